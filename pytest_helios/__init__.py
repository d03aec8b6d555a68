"""pytest-helios: a pytest plugin and contract-test harness for the Helios health-AI API.

The public names below are imported lazily, on first use, so that loading the pytest
plugin costs nothing for a suite that never touches Helios.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "sign_webhook": "pytest_helios.webhooks.signing",
    "verify_webhook": "pytest_helios.webhooks.signing",
    "WebhookVerificationError": "pytest_helios.webhooks.signing",
    "MissingHeader": "pytest_helios.webhooks.signing",
    "MalformedHeader": "pytest_helios.webhooks.signing",
    "SignatureMismatch": "pytest_helios.webhooks.signing",
    "TimestampOutOfTolerance": "pytest_helios.webhooks.signing",
    "validate": "pytest_helios.payloads.validation",
    "ContractViolation": "pytest_helios.payloads.validation",
    "SCHEMA_NAMES": "pytest_helios.payloads.validation",
    "HeliosClient": "pytest_helios.client",
    "AsyncHeliosClient": "pytest_helios.client",
    "HeliosError": "pytest_helios.client",
    "HeliosAuthError": "pytest_helios.client",
    "HeliosValidationError": "pytest_helios.client",
    "HeliosRateLimited": "pytest_helios.client",
    "HeliosEmulator": "pytest_helios.emulator",
}

# public submodule -> where it lives
_MODULES: dict[str, str] = {
    "strategies": "pytest_helios.payloads.strategies",
    "conformance": "pytest_helios.webhooks.conformance",
}

__all__ = ["__version__", *_EXPORTS, *_MODULES]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_helios' has no attribute {name!r}")
    # Not cached in globals(): the defining module stays the single source of truth, even
    # when a test harness (pytester) unloads and re-imports it.
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
