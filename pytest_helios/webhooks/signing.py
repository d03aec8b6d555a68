"""Signing and verifying Helios webhook deliveries.

Helios signs the raw request body, and nothing else, with the account's webhook secret::

    X-Helios-Signature: sha256=<lowercase hex HMAC-SHA256(secret as UTF-8, raw body)>
    X-Helios-Timestamp: <Unix seconds when the delivery was sent>   (not signed)
    X-Helios-Run-ID:    <the run's id>                              (not signed)

`verify_webhook` is total: on any input at all it returns the parsed payload or raises a
`WebhookVerificationError` subclass that names the reason, never `TypeError`, `ValueError`,
`UnicodeDecodeError` or `KeyError`. The rules it applies, including where the documentation
leaves room, are these (each one is asserted in ``tests/webhooks/test_signing.py``):

- header names match case-insensitively; headers may be a mapping, an ``httpx.Headers``, or a
  list of ``(name, value)`` pairs of ``str`` or ``bytes`` (WSGI and ASGI both hand over such
  pairs). A signature or timestamp header that appears more than once is malformed, even with
  equal values, because a real delivery never repeats it. A ``None`` value counts as missing.
- the signature is exactly ``sha256=`` followed by 64 lowercase hex digits, as the documented
  sample produces and compares (case-sensitively). ``SHA256=``, uppercase hex, another length or
  any non-ASCII character is `MalformedHeader`; optional whitespace around the value (which HTTP
  does not count as part of it) is ignored.
- the timestamp is a whole number of Unix seconds written with ASCII digits only (no sign, no
  fraction, no other script's digits) and must satisfy ``abs(now - timestamp) <= tolerance``:
  both directions, boundary inclusive. ``now`` defaults to the clock read at call time.
- the signature is compared in constant time (`hmac.compare_digest`) against every secret given
  (several during a rotation), without stopping at the first match, so the order of the secrets
  changes nothing.
- a body that verifies must be UTF-8 JSON holding an object, else `MalformedBody`.
- a missing or empty secret, or a ``tolerance`` or ``now`` of the wrong type, is a programming
  error in the caller; it raises `VerifierMisconfigured`, which names the argument and never its
  value.

Because the timestamp is unsigned, a captured body replayed with a fresh timestamp verifies:
receivers must also deduplicate on ``(runId, sequenceNumber)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_helios.exceptions import (
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    SignatureMismatch,
    TimestampOutOfTolerance,
    VerifierMisconfigured,
    WebhookVerificationError,
)
from pytest_helios.facts import (
    RUN_ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_PREFIX,
    TIMESTAMP_HEADER,
    TIMESTAMP_TOLERANCE,
    WEBHOOK_SECRET_PREFIX,
)
from pytest_helios.masking import shorten

__all__ = [
    "DEFAULT_TOLERANCE",
    "compute_signature",
    "new_webhook_secret",
    "sign_webhook",
    "verify_webhook",
    "verify_webhook_signature",
]

#: Seconds a delivery's timestamp may be away from the clock, either way.
DEFAULT_TOLERANCE = TIMESTAMP_TOLERANCE
_ALGORITHM = SIGNATURE_PREFIX.removesuffix("=")

_SIGNATURE_RE = re.compile(re.escape(SIGNATURE_PREFIX) + "[0-9a-f]{64}")
_HEX_ANY_CASE_RE = re.compile(r"[0-9a-fA-F]{64}")
_MAX_TIMESTAMP_DIGITS = 15
_OWS = " \t"


def compute_signature(body: bytes, secret: str) -> str:
    """The ``X-Helios-Signature`` value for ``body``: ``sha256=`` + lowercase hex HMAC-SHA256."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def new_webhook_secret() -> str:
    """A fresh random webhook secret in the documented form (``whsec_`` and 48 hex digits)."""
    return WEBHOOK_SECRET_PREFIX + secrets.token_hex(24)


def sign_webhook(body: bytes, secret: str, *, timestamp: int, run_id: str) -> dict[str, str]:
    """Return the exact headers Helios sends with ``body``.

    ``X-Helios-Signature`` signs the raw bytes only; ``X-Helios-Timestamp`` and
    ``X-Helios-Run-ID`` travel beside it unsigned. Send ``body`` byte for byte as given.
    Bad arguments raise ``TypeError`` or ``ValueError`` naming the argument (never its value).
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(
            "sign_webhook: body must be bytes (the exact bytes you send), "
            f"got {type(body).__name__}"
        )
    if not isinstance(secret, str):
        raise TypeError(f"sign_webhook: secret must be a str, got {type(secret).__name__}")
    if not secret:
        raise ValueError("sign_webhook: secret is empty")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError(
            f"sign_webhook: timestamp must be int Unix seconds, got {type(timestamp).__name__}"
        )
    if timestamp < 0:
        raise ValueError(f"sign_webhook: timestamp must not be negative, got {timestamp}")
    if not isinstance(run_id, str):
        raise TypeError(f"sign_webhook: run_id must be a str, got {type(run_id).__name__}")
    if not run_id or not run_id.isascii() or not run_id.isprintable():
        raise ValueError(f"sign_webhook: run_id must be printable ASCII, got {run_id!r}")
    try:
        signature = compute_signature(bytes(body), secret)
    except UnicodeEncodeError:
        raise ValueError("sign_webhook: secret cannot be encoded as UTF-8") from None
    return {
        SIGNATURE_HEADER: signature,
        TIMESTAMP_HEADER: str(timestamp),
        RUN_ID_HEADER: run_id,
        "Content-Type": "application/json",
    }


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secret: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> dict[str, Any]:
    """Verify a delivery and return its parsed JSON payload.

    Checks, in this order: the secrets and arguments, the presence and format of
    ``X-Helios-Signature`` and ``X-Helios-Timestamp``, the timestamp within ``tolerance``
    seconds of ``now`` (both ways, inclusive), the signature over the exact raw bytes against
    every secret, and finally that the body is UTF-8 JSON holding an object. Raises a
    `WebhookVerificationError` subclass naming the first failure, and nothing else.
    """
    raw = verify_webhook_signature(body, headers, secret, tolerance=tolerance, now=now)
    return _parse_payload(raw)


def verify_webhook_signature(
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secret: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> bytes:
    """Everything `verify_webhook` checks except the body's JSON; returns the verified bytes.

    For receivers that parse the body themselves (or stream it elsewhere) after verifying.
    """
    keys = _secret_keys(secret)
    tolerance = _tolerance(tolerance)
    raw = _body_bytes(body)
    found = _find_headers(headers)
    signature = _signature(found)
    timestamp = _timestamp(found)
    clock = _now(now)
    if abs(clock - timestamp) > tolerance:
        raise TimestampOutOfTolerance(timestamp, clock, tolerance)
    given = signature[len(SIGNATURE_PREFIX) :]  # format checked: 64 lowercase hex digits
    matched = False
    for key in keys:
        expected = hmac.digest(key, raw, "sha256").hex()
        # no early exit: the time taken does not depend on which secret matched
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureMismatch(len(keys))
    return raw


def _secret_keys(secret: object) -> list[bytes]:
    if type(secret) is str and secret:  # the common case, first
        try:
            return [secret.encode("utf-8")]
        except UnicodeEncodeError:
            raise VerifierMisconfigured("secret", "it cannot be encoded as UTF-8") from None
    if isinstance(secret, (str, bytes, bytearray)):
        candidates: list[object] = [secret]
        label = "secret"
    elif isinstance(secret, Iterable) and not isinstance(secret, Mapping):
        try:
            candidates = list(secret)
        except Exception:
            raise VerifierMisconfigured("secret", "iterating the secrets failed") from None
        if not candidates:
            raise VerifierMisconfigured("secret", "the list of secrets is empty")
        label = "secret[{}]"
    else:
        raise VerifierMisconfigured(
            "secret", f"expected a str or a list of str, got {type(secret).__name__}"
        )
    keys: list[bytes] = []
    for index, candidate in enumerate(candidates):
        name = label.format(index)
        if isinstance(candidate, (bytes, bytearray)):
            key = bytes(candidate)
        elif isinstance(candidate, str):
            try:
                key = candidate.encode("utf-8")
            except UnicodeEncodeError:
                raise VerifierMisconfigured(name, "it cannot be encoded as UTF-8") from None
        else:
            raise VerifierMisconfigured(name, f"expected a str, got {type(candidate).__name__}")
        if not key:
            raise VerifierMisconfigured(name, "it is empty (is the webhook secret configured?)")
        keys.append(key)
    return keys


def _tolerance(tolerance: object) -> int:
    if isinstance(tolerance, bool) or not isinstance(tolerance, int):
        raise VerifierMisconfigured(
            "tolerance", f"expected int seconds, got {type(tolerance).__name__}"
        )
    if tolerance < 0:
        raise VerifierMisconfigured("tolerance", f"it must not be negative, got {tolerance}")
    return tolerance


def _now(now: object) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise VerifierMisconfigured("now", f"expected int Unix seconds, got {type(now).__name__}")
    if now != now or now in (float("inf"), float("-inf")):
        raise VerifierMisconfigured("now", "it is not a finite number")
    return int(now)


def _body_bytes(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedBody("a str body must be encodable as UTF-8") from None
    hint = (
        " (pass the raw request bytes, not parsed JSON)" if isinstance(body, (dict, list)) else ""
    )
    raise MalformedBody(f"expected the raw bytes, got {type(body).__name__}{hint}")


_WANTED = {SIGNATURE_HEADER.lower(): SIGNATURE_HEADER, TIMESTAMP_HEADER.lower(): TIMESTAMP_HEADER}


def _find_headers(headers: object) -> dict[str, list[object]]:
    """The values of the signature and timestamp headers, looked up case-insensitively."""
    found: dict[str, list[object]] = {SIGNATURE_HEADER: [], TIMESTAMP_HEADER: []}
    try:
        pairs = headers.items() if type(headers) is dict else _header_pairs(headers)
        for name, value in pairs:
            if type(name) is not str:
                if not isinstance(name, (bytes, bytearray)):
                    continue
                name = bytes(name).decode("latin-1")
            canonical = _WANTED.get(name.lower())
            if canonical is None:
                canonical = _WANTED.get(name.strip(_OWS).lower())
            if canonical is not None and value is not None:
                found[canonical].append(value)
    except WebhookVerificationError:
        raise
    except Exception:
        raise MalformedHeader(
            "headers",
            "expected a mapping of header names to values or a list of (name, value) pairs, "
            f"got {type(headers).__name__}",
        ) from None
    return found


def _header_pairs(headers: object) -> Iterable[tuple[object, object]]:
    if headers is None:
        return []
    multi_items = getattr(headers, "multi_items", None)  # httpx.Headers keeps duplicates here
    if callable(multi_items):
        return list(multi_items())
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, (str, bytes, bytearray)):
        raise TypeError("headers given as a string")
    pairs: list[tuple[object, object]] = []
    for item in headers:  # type: ignore[attr-defined]
        name, value = item
        pairs.append((name, value))
    return pairs


def _single_ascii_value(found: dict[str, list[object]], header: str) -> str:
    values = found[header]
    if not values:
        raise MissingHeader(header)
    if len(values) > 1:
        raise MalformedHeader(header, f"it appears {len(values)} times; send it exactly once")
    value = values[0]
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")
    if not isinstance(value, str):
        raise MalformedHeader(header, f"expected a str value, got {type(value).__name__}")
    value = value.strip(_OWS)
    if not value:
        raise MalformedHeader(header, "it is empty")
    if not value.isascii():
        raise MalformedHeader(header, "it contains non-ASCII characters")
    return value


def _signature(found: dict[str, list[object]]) -> str:
    value = _single_ascii_value(found, SIGNATURE_HEADER)
    if _SIGNATURE_RE.fullmatch(value):
        return value
    prefix, sep, digest = value.partition("=")
    if not sep:
        problem = f"the {SIGNATURE_PREFIX!r} prefix is missing"
    elif prefix != _ALGORITHM:
        if prefix.lower() == _ALGORITHM:
            problem = f"the prefix must be lowercase {SIGNATURE_PREFIX!r}, got {prefix[:10]!r}"
        else:
            problem = f"the algorithm must be {_ALGORITHM!r}, got {prefix[:10]!r}"
    elif _HEX_ANY_CASE_RE.fullmatch(digest):
        problem = "the hex digest must be lowercase, it has uppercase digits"
    elif len(digest) != 64:
        problem = f"the hex digest must be 64 characters, got {len(digest)}"
    else:
        problem = "the digest contains characters that are not hex digits"
    raise MalformedHeader(SIGNATURE_HEADER, problem)


def _timestamp(found: dict[str, list[object]]) -> int:
    value = _single_ascii_value(found, TIMESTAMP_HEADER)
    if not value.isdigit():  # ASCII was checked, so only 0-9 pass here
        shown = shorten(value, 24)
        raise MalformedHeader(
            TIMESTAMP_HEADER, f"expected whole Unix seconds (ASCII digits only), got {shown!r}"
        )
    if len(value) > _MAX_TIMESTAMP_DIGITS:
        raise MalformedHeader(
            TIMESTAMP_HEADER, f"expected Unix seconds, got a number of {len(value)} digits"
        )
    return int(value)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _parse_payload(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"it is not UTF-8 (invalid byte at offset {exc.start})") from None
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"it is not JSON ({exc.msg} at offset {exc.pos})") from None
    except ValueError as exc:  # NaN/Infinity constants, or an integer too long to convert
        raise MalformedBody(f"it is not strict JSON ({str(exc)[:60]})") from None
    except RecursionError:
        raise MalformedBody("it is nested too deeply") from None
    if not isinstance(payload, dict):
        raise MalformedBody(f"it is JSON but not an object (got {type(payload).__name__})")
    return payload
