"""pytest-helios: a pytest plugin and contract-test harness for the Helios health-AI API.

The names below are the public API (``docs/reference.md``); more live in the documented
subpackages ``pytest_helios.webhooks``, ``pytest_helios.payloads``, ``pytest_helios.emulator``
and ``pytest_helios.cassettes``. They are imported on first use, so that loading the pytest
plugin costs nothing for a suite that never touches Helios; type checkers see them through the
``TYPE_CHECKING`` imports, and an unknown name is an error for them too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from pytest_helios.client import AcceptedRun, AsyncHeliosClient, HeliosClient, VirtualClock
    from pytest_helios.emulator import HeliosEmulator
    from pytest_helios.exceptions import (
        ContractViolation,
        HeliosAuthError,
        HeliosError,
        HeliosRateLimited,
        HeliosValidationError,
        MalformedBody,
        MalformedHeader,
        MissingHeader,
        SignatureMismatch,
        TimestampOutOfTolerance,
        VerifierMisconfigured,
        WebhookVerificationError,
    )
    from pytest_helios.facts import PRICES_USD
    from pytest_helios.masking import MaskedSecret, mask_secret
    from pytest_helios.payloads import strategies
    from pytest_helios.payloads.validation import SCHEMA_NAMES, validate
    from pytest_helios.webhooks import conformance
    from pytest_helios.webhooks.signing import sign_webhook, verify_webhook

__all__ = [
    "PRICES_USD",
    "SCHEMA_NAMES",
    "AcceptedRun",
    "AsyncHeliosClient",
    "ContractViolation",
    "HeliosAuthError",
    "HeliosClient",
    "HeliosEmulator",
    "HeliosError",
    "HeliosRateLimited",
    "HeliosValidationError",
    "MalformedBody",
    "MalformedHeader",
    "MaskedSecret",
    "MissingHeader",
    "SignatureMismatch",
    "TimestampOutOfTolerance",
    "VerifierMisconfigured",
    "VirtualClock",
    "WebhookVerificationError",
    "__version__",
    "conformance",
    "mask_secret",
    "sign_webhook",
    "strategies",
    "validate",
    "verify_webhook",
]

# public name -> the module that defines it (a public submodule maps to itself)
_HOMES: dict[str, str] = {
    "AcceptedRun": "pytest_helios.client",
    "AsyncHeliosClient": "pytest_helios.client",
    "HeliosClient": "pytest_helios.client",
    "VirtualClock": "pytest_helios.client",
    "HeliosEmulator": "pytest_helios.emulator",
    **dict.fromkeys(
        (
            "ContractViolation",
            "HeliosAuthError",
            "HeliosError",
            "HeliosRateLimited",
            "HeliosValidationError",
            "MalformedBody",
            "MalformedHeader",
            "MissingHeader",
            "SignatureMismatch",
            "TimestampOutOfTolerance",
            "VerifierMisconfigured",
            "WebhookVerificationError",
        ),
        "pytest_helios.exceptions",
    ),
    "PRICES_USD": "pytest_helios.facts",
    "MaskedSecret": "pytest_helios.masking",
    "mask_secret": "pytest_helios.masking",
    "SCHEMA_NAMES": "pytest_helios.payloads.validation",
    "validate": "pytest_helios.payloads.validation",
    "sign_webhook": "pytest_helios.webhooks.signing",
    "verify_webhook": "pytest_helios.webhooks.signing",
    "strategies": "pytest_helios.payloads.strategies",
    "conformance": "pytest_helios.webhooks.conformance",
}


def _lazy_exports(
    package: str, homes: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` for names imported on first use.

    ``homes`` maps each lazy name to the module that defines it (a public submodule maps to
    itself); ``public`` is the package's ``__all__``, which ``dir()`` lists. Nothing is cached
    in the package's globals: the defining module stays the single source of truth, even when
    a test harness (pytester) unloads and re-imports it. The subpackages use it too.
    """
    listed = sorted(public)

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(home)
        return module if home.rsplit(".", 1)[1] == name else getattr(module, name)

    def __dir__() -> list[str]:
        return list(listed)

    return __getattr__, __dir__


if not TYPE_CHECKING:  # type checkers read the imports above, and reject any other name
    __getattr__, __dir__ = _lazy_exports(__name__, _HOMES, __all__)
