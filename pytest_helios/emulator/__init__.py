"""The embedded Helios emulator: a real local server that behaves as the documentation says.

``HeliosEmulator`` is the entry point; its HTTP layer loads only when one starts.
"""

from __future__ import annotations

from .delivery import DeliveryAttempt, WebhookRoute
from .service import HeliosEmulator
from .state import Account, ApiKey

__all__ = ["Account", "ApiKey", "DeliveryAttempt", "HeliosEmulator", "WebhookRoute"]
