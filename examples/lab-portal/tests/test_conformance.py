"""pytest-helios's conformance kits run against the portal's own verifier and its endpoint:
every named case and the Hypothesis properties, one pytest test each."""

from __future__ import annotations

import secrets

import pytest
from pytest_helios.webhooks import (
    EndpointConformance,
    VerifierConformance,
    check_endpoint,
)

from lab_portal.app import WEBHOOK_PATH, create_app
from lab_portal.signatures import InvalidWebhook, verify

SECRET = "whsec_" + secrets.token_hex(24)  # made up at run time, never committed


class TestPortalVerifier(VerifierConformance):
    max_examples = 25

    def accepts(self, body, headers, secret, now):  # taking `now`: boundaries to the second
        try:
            verify(body, headers.items(), [secret], now=now)
        except InvalidWebhook:
            return False
        return True


class TestPortalEndpoint(EndpointConformance):
    secret = SECRET
    path = WEBHOOK_PATH

    @pytest.fixture(autouse=True)
    def _app(self, tmp_path):
        # no submissions in these tests: the Helios address is never called
        self.app = create_app(
            helios_base_url="https://api.heliosai.health",
            helios_api_key="unused",
            webhook_secrets=[SECRET],
            database=str(tmp_path / "portal.sqlite3"),
        )
        yield
        self.app.helios.close()
        self.app.store.close()

    def target(self):
        return self.app

    def processed(self):
        return self.app.store.event_keys()


def test_the_served_portal_conforms_over_http_and_processes_each_delivery_once(
    portal, helios_webhook_secret
):
    check_endpoint(
        portal.webhook_url,
        secret=helios_webhook_secret,
        processed=portal.app.store.event_keys,
    )
