"""Helios webhooks: signing and verifying, fake deliveries, sending, receiving, conformance kits.

The public names, imported on first use so that importing this package stays cheap:

- signing and verifying (``signing``): `sign_webhook`, `verify_webhook` (also at the top level)
  and `verify_webhook_signature`, which skips the JSON parse;
- fake deliveries (``fakes``, their named variants in ``variants``): `WebhookFactory`, what the
  ``fake_webhook`` fixture is, builds signed `Delivery` objects, their `Variant` objects and
  whole runs (`FakeRun`);
- sending (``sending``): a delivery's ``send`` and ``deliver_to`` answer a `DeliveryResponse`;
  `serve_wsgi` and `serve_asgi` serve a WSGI or an ASGI app on a loopback port;
- receiving (``receiver``): `WebhookReceiver`, the endpoint behind ``helios_webhook_receiver``,
  keeps each POST as a `ReceivedWebhook`;
- the conformance kits (``conformance``, also ``pytest_helios.conformance``): `check_verifier`,
  `VerifierConformance`, `check_endpoint`, `EndpointConformance`, and the names of their cases
  and properties, `CASE_NAMES` and `PROPERTY_NAMES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_helios import _lazy_exports

if TYPE_CHECKING:
    from pytest_helios.webhooks.conformance import (
        CASE_NAMES,
        PROPERTY_NAMES,
        EndpointConformance,
        VerifierConformance,
        check_endpoint,
        check_verifier,
    )
    from pytest_helios.webhooks.fakes import Delivery, FakeRun, Variant, WebhookFactory
    from pytest_helios.webhooks.receiver import ReceivedWebhook, WebhookReceiver
    from pytest_helios.webhooks.sending import DeliveryResponse, serve_asgi, serve_wsgi
    from pytest_helios.webhooks.signing import (
        sign_webhook,
        verify_webhook,
        verify_webhook_signature,
    )

__all__ = [
    "CASE_NAMES",
    "PROPERTY_NAMES",
    "Delivery",
    "DeliveryResponse",
    "EndpointConformance",
    "FakeRun",
    "ReceivedWebhook",
    "Variant",
    "VerifierConformance",
    "WebhookFactory",
    "WebhookReceiver",
    "check_endpoint",
    "check_verifier",
    "serve_asgi",
    "serve_wsgi",
    "sign_webhook",
    "verify_webhook",
    "verify_webhook_signature",
]

_HOMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "CASE_NAMES",
            "PROPERTY_NAMES",
            "EndpointConformance",
            "VerifierConformance",
            "check_endpoint",
            "check_verifier",
        ),
        "pytest_helios.webhooks.conformance",
    ),
    **dict.fromkeys(
        ("Delivery", "FakeRun", "Variant", "WebhookFactory"), "pytest_helios.webhooks.fakes"
    ),
    "ReceivedWebhook": "pytest_helios.webhooks.receiver",
    "WebhookReceiver": "pytest_helios.webhooks.receiver",
    "DeliveryResponse": "pytest_helios.webhooks.sending",
    "serve_asgi": "pytest_helios.webhooks.sending",
    "serve_wsgi": "pytest_helios.webhooks.sending",
    **dict.fromkeys(
        ("sign_webhook", "verify_webhook", "verify_webhook_signature"),
        "pytest_helios.webhooks.signing",
    ),
}

if not TYPE_CHECKING:  # type checkers read the imports above, and reject any other name
    __getattr__, __dir__ = _lazy_exports(__name__, _HOMES, __all__)
