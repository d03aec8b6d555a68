"""Webhook signature verification, written the way the Helios documentation describes it.

``X-Helios-Signature`` is ``sha256=`` + the lowercase hex HMAC-SHA256 of the *raw* request
body, keyed with the account's webhook secret; ``X-Helios-Timestamp`` (Unix seconds) must be
within 300 seconds of now, either way. The timestamp is not signed, so a replayed body with a
fresh timestamp verifies: the store deduplicates on ``(runId, sequenceNumber)`` for that.

This is the service's own code (production code should not depend on a test tool), so the
test suite checks it with pytest-helios's conformance kit and against ``verify_webhook``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Sequence

TOLERANCE = 300
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class InvalidWebhook(Exception):
    """A delivery that must be refused; the message says why (never the secret)."""


def header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The one value of header ``name`` (any case); a repeated header is refused."""
    wanted = name.lower()
    values = [value for key, value in headers if key.lower() == wanted]
    if len(values) > 1:
        raise InvalidWebhook(f"{name} header given {len(values)} times")
    return values[0].strip() if values else None


def verify(
    body: bytes,
    headers: Iterable[tuple[str, str]],
    secrets: Sequence[str],
    *,
    now: int | None = None,
    tolerance: int = TOLERANCE,
) -> None:
    """Return if ``body`` was signed with one of ``secrets`` recently; raise InvalidWebhook."""
    pairs = list(headers)
    signature = header(pairs, "X-Helios-Signature")
    timestamp = header(pairs, "X-Helios-Timestamp")
    if signature is None:
        raise InvalidWebhook("missing X-Helios-Signature header")
    if timestamp is None:
        raise InvalidWebhook("missing X-Helios-Timestamp header")
    if not _SIGNATURE.fullmatch(signature):
        raise InvalidWebhook("malformed X-Helios-Signature header")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidWebhook("malformed X-Helios-Timestamp header")
    clock = int(time.time()) if now is None else now
    if abs(clock - int(timestamp)) > tolerance:
        raise InvalidWebhook("X-Helios-Timestamp is more than 5 minutes away")
    matched = False
    for secret in secrets:  # every secret is compared: no early exit, no timing hint
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(signature.encode("ascii"), f"sha256={digest}".encode())
    if not matched:
        raise InvalidWebhook("signature does not match the body")
