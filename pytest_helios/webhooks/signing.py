"""Signing and verifying Helios webhook deliveries.

Helios signs the raw request body, and nothing else, with the account's webhook secret::

    X-Helios-Signature: sha256=<lowercase hex HMAC-SHA256(secret as UTF-8, raw body)>
    X-Helios-Timestamp: <Unix seconds when the delivery was sent>   (not signed)
    X-Helios-Run-ID:    <the run's id>                              (not signed)

`verify_webhook` is total: on any input at all it returns the parsed payload or raises a
`WebhookVerificationError` subclass that names the reason, never `TypeError`, `ValueError`,
`UnicodeDecodeError` or `KeyError`. The rules it applies, including where the documentation
leaves room, are these (each one is asserted in ``tests/webhooks/test_signing.py``):

- header names match case-insensitively, in whatever container the receiver's server hands
  over: a mapping, anything with ``items()`` (``http.server``'s ``HTTPMessage``,
  ``wsgiref.headers.Headers``, werkzeug's, Django's, Starlette's, multidict's), an
  ``httpx.Headers``, a WSGI environ or Django's ``request.META`` (``HTTP_X_HELIOS_SIGNATURE``),
  or ``(name, value)`` pairs of ``str`` or ``bytes`` (an ASGI scope's list); a name may be a
  ``str`` subclass. A signature or timestamp header that appears more than once is malformed,
  even with equal values, because a real delivery never repeats it. A ``None`` value counts as
  missing.
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
- a missing or empty secret, or a ``tolerance`` or ``now`` of the wrong type (or ``now`` of more
  than 15 digits), is a programming error in the caller; it raises `VerifierMisconfigured`,
  which names the argument and never its value.
- the caller's own objects cannot make it raise anything else: a ``str``, ``bytes`` or ``int``
  subclass is read as its plain value, without calling its methods, and whatever a container,
  an iterable of secrets or a buffer raises while read (or an endless one) becomes the error of
  that argument. ``KeyboardInterrupt`` and ``SystemExit`` pass through.

Because the timestamp is unsigned, a captured body replayed with a fresh timestamp verifies:
receivers must also deduplicate on ``(runId, sequenceNumber)``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, cast

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

#: pytest hides this module's frames in tracebacks: their arguments and locals hold the webhook
#: secrets (shown under --tb=long or -l). The exception's message says what failed, never them.
__tracebackhide__ = True

#: Seconds a delivery's timestamp may be away from the clock, either way.
DEFAULT_TOLERANCE = TIMESTAMP_TOLERANCE
_ALGORITHM = SIGNATURE_PREFIX.removesuffix("=")

_SIGNATURE_RE = re.compile(re.escape(SIGNATURE_PREFIX) + "[0-9a-f]{64}")
_HEX_ANY_CASE_RE = re.compile(r"[0-9a-fA-F]{64}")
_MAX_TIMESTAMP_DIGITS = 15
#: ``now`` is Unix seconds of at most 15 digits, like the timestamps
_CLOCK_LIMIT = 10**_MAX_TIMESTAMP_DIGITS
_DIGITS_PER_BIT = math.log10(2)
#: more secrets than a rotation could need, or headers than a request could carry, are refused
#: (an endless iterator would otherwise never return)
_MAX_SECRETS = 100
_MAX_HEADERS = 10_000
_OWS = " \t"
#: the getter of a type's __name__: reads it without a metaclass's own __name__ running
_TYPE_NAME = vars(type)["__name__"]


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


class _HeaderItems(Protocol):
    """What the mapping-like header containers offer: ``items()``, the (name, value) pairs."""

    def items(self) -> Iterable[tuple[Any, Any]]: ...


_Headers: TypeAlias = (
    "_HeaderItems | Iterable[tuple[str | bytes, str | bytes]] | Iterable[list[bytes]]"
)
_Secrets: TypeAlias = "str | bytes | Sequence[str | bytes]"


def verify_webhook(
    body: bytes,
    headers: _Headers,
    secret: _Secrets,
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
    headers: _Headers,
    secret: _Secrets,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> bytes:
    """Everything `verify_webhook` checks except the body's JSON; returns the verified bytes.

    For receivers that parse the body themselves (or stream it elsewhere) after verifying.
    """
    keys = _secret_keys(secret)
    tolerance = _tolerance(tolerance)
    clock = _now(now)
    raw = _body_bytes(body)
    found = _find_headers(headers)
    signature = _signature(found)
    timestamp = _timestamp(found)
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


# Every argument is turned into plain bytes, str and int before it is used, without calling
# methods of the caller's own types (a str or int subclass may override them). Code of the
# caller's objects that does run (iterating a container, a __getattr__) runs inside a guard
# that turns whatever it raises into the WebhookVerificationError of that argument.


def _type_name(value: object) -> str:
    """The name of ``value``'s type for a message, read without running code of its class."""
    try:
        return shorten(str.__str__(_TYPE_NAME.__get__(type(value))), 60)
    except Exception:
        return "object"


def _int_text(value: int) -> str:
    """``value`` in digits, or its size when it is too long to show (or to convert at all)."""
    if -_CLOCK_LIMIT < value < _CLOCK_LIMIT:
        return str(value)
    digits = int(value.bit_length() * _DIGITS_PER_BIT) + 1
    return f"a {'negative ' if value < 0 else ''}number of about {digits:,} digits"


def _secret_keys(secret: object) -> list[bytes]:
    if type(secret) is str and secret:  # the common case, first
        try:
            return [secret.encode("utf-8")]
        except UnicodeEncodeError:
            raise VerifierMisconfigured("secret", "it cannot be encoded as UTF-8") from None
    try:
        return _secret_list(secret)
    except WebhookVerificationError:
        raise
    except Exception as error:  # raised by the caller's object: its __iter__, __len__, ...
        raise VerifierMisconfigured("secret", f"reading it raised {_type_name(error)}") from None


def _secret_list(secret: object) -> list[bytes]:
    kind = type(secret)
    if issubclass(kind, (str, bytes, bytearray)):
        candidates: list[object] = [secret]
        label = "secret"
    elif issubclass(kind, Iterable) and not issubclass(kind, Mapping):
        candidates = list(itertools.islice(cast("Iterable[object]", secret), _MAX_SECRETS + 1))
        if not candidates:
            raise VerifierMisconfigured("secret", "the list of secrets is empty")
        if len(candidates) > _MAX_SECRETS:
            raise VerifierMisconfigured(
                "secret", f"more than {_MAX_SECRETS} secrets (a rotation needs two)"
            )
        label = "secret[{}]"
    else:
        raise VerifierMisconfigured(
            "secret", f"expected a str or a list of str, got {_type_name(secret)}"
        )
    keys: list[bytes] = []
    for index, candidate in enumerate(candidates):
        name = label.format(index)
        kind = type(candidate)
        if issubclass(kind, str):
            try:
                key = str.encode(cast(str, candidate), "utf-8")
            except UnicodeEncodeError:
                raise VerifierMisconfigured(name, "it cannot be encoded as UTF-8") from None
        elif issubclass(kind, (bytes, bytearray)):
            key = memoryview(cast(bytes, candidate)).tobytes()
        else:
            raise VerifierMisconfigured(name, f"expected a str, got {_type_name(candidate)}")
        if not key:
            raise VerifierMisconfigured(name, "it is empty (is the webhook secret configured?)")
        keys.append(key)
    return keys


def _tolerance(tolerance: object) -> int:
    kind = type(tolerance)
    if kind is bool or not issubclass(kind, int):
        raise VerifierMisconfigured(
            "tolerance", f"expected int seconds, got {_type_name(tolerance)}"
        )
    value = int.__int__(cast(int, tolerance))  # a plain int: no method of a subclass runs
    if value < 0:
        raise VerifierMisconfigured("tolerance", f"it must not be negative, got {_int_text(value)}")
    return value


def _now(now: object) -> int:
    if now is None:
        return int(time.time())
    kind = type(now)
    if kind is bool or not issubclass(kind, (int, float)):
        raise VerifierMisconfigured("now", f"expected int Unix seconds, got {_type_name(now)}")
    if issubclass(kind, int):
        value = int.__int__(cast(int, now))
    else:
        number = float.__float__(cast(float, now))
        if not math.isfinite(number):
            raise VerifierMisconfigured("now", "it is not a finite number")
        value = int(number)
    if not -_CLOCK_LIMIT < value < _CLOCK_LIMIT:
        raise VerifierMisconfigured(
            "now", f"expected Unix seconds of at most 15 digits, got {_int_text(value)}"
        )
    return value


def _body_bytes(body: object) -> bytes:
    kind = type(body)
    if kind is bytes:
        return cast(bytes, body)
    try:
        if kind is memoryview:
            return cast(memoryview, body).tobytes()
        if issubclass(kind, (bytes, bytearray)):  # a copy: later changes do not reach it
            return memoryview(cast(bytes, body)).tobytes()
        if issubclass(kind, str):
            return str.encode(cast(str, body), "utf-8")
    except UnicodeEncodeError:
        raise MalformedBody("a str body must be encodable as UTF-8") from None
    except Exception as error:
        if kind is memoryview:
            raise MalformedBody("the memoryview was released before it could be read") from None
        raise MalformedBody(f"reading the {_type_name(body)} raised {_type_name(error)}") from None
    hint = (
        " (pass the raw request bytes, not parsed JSON)" if issubclass(kind, (dict, list)) else ""
    )
    raise MalformedBody(f"expected the raw bytes, got {_type_name(body)}{hint}")


# the header names looked for (lowercase), and the WSGI environ's (Django's request.META) keys
_WANTED = {
    key: header
    for header in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
    for key in (header.lower(), "http_" + header.lower().replace("-", "_"))
}


class _NotText:
    """A header value that is neither str nor bytes: kept to be reported by its type."""

    __slots__ = ("type_name",)

    def __init__(self, value: object) -> None:
        self.type_name = _type_name(value)


def _text(value: object) -> str | None:
    """A header name or value as a plain ``str`` (bytes as Latin-1); None for other types."""
    kind = type(value)
    if kind is str:
        return cast(str, value)
    if issubclass(kind, str):  # a StrEnum, multidict's istr: its characters, not its methods
        return str.__str__(cast(str, value))
    if issubclass(kind, bytes):
        return bytes.decode(cast(bytes, value), "latin-1")
    if issubclass(kind, bytearray):
        return bytearray.decode(cast(bytearray, value), "latin-1")
    return None


def _find_headers(headers: object) -> dict[str, list[str | _NotText]]:
    """The values of the signature and timestamp headers, looked up case-insensitively."""
    found: dict[str, list[str | _NotText]] = {SIGNATURE_HEADER: [], TIMESTAMP_HEADER: []}
    try:
        for raw_name, value in _header_pairs(headers):
            name = raw_name if type(raw_name) is str else _text(raw_name)
            if name is None:
                continue
            canonical = _WANTED.get(name.lower())
            if canonical is None:
                canonical = _WANTED.get(name.strip(_OWS).lower())
            if canonical is not None and value is not None:
                text = value if type(value) is str else _text(value)
                found[canonical].append(_NotText(value) if text is None else text)
    except WebhookVerificationError:
        raise
    except Exception:  # raised by the container: not one, or it failed while read
        raise MalformedHeader(
            "headers",
            "expected a mapping of header names to values or a list of (name, value) pairs, "
            f"got {_type_name(headers)}",
        ) from None
    return found


def _header_pairs(headers: object) -> Iterable[tuple[object, object]]:
    """The (name, value) pairs of any header container, repeated headers kept."""
    if type(headers) is dict:
        return cast("dict[object, object]", headers).items()
    if headers is None:
        return ()
    if issubclass(type(headers), (str, bytes, bytearray, memoryview)):
        raise TypeError("headers given as a string")
    # httpx.Headers.items() joins a repeated header into one value; multi_items() keeps both.
    # items(): Mapping (Django's HttpHeaders, multidict, requests), email.message.Message
    # (http.server, http.client), wsgiref.headers.Headers, werkzeug's Headers, Starlette's.
    for method in ("multi_items", "items"):
        items = getattr(headers, method, None)
        if callable(items):
            return _bounded(items())
    keys = getattr(headers, "keys", None)
    item = getattr(headers, "__getitem__", None)
    if callable(keys) and callable(item):
        return _bounded((name, item(name)) for name in keys())
    return _bounded(cast("Iterable[object]", headers))  # (name, value) pairs: WSGI, ASGI


def _bounded(pairs: Iterable[object]) -> Iterator[tuple[object, object]]:
    for count, pair in enumerate(pairs):
        if count == _MAX_HEADERS:
            raise MalformedHeader("headers", f"more than {_MAX_HEADERS:,} headers")
        name, value = cast("tuple[object, object]", pair)
        yield name, value


def _single_ascii_value(found: dict[str, list[str | _NotText]], header: str) -> str:
    values = found[header]
    if not values:
        raise MissingHeader(header)
    if len(values) > 1:
        raise MalformedHeader(header, f"it appears {len(values)} times; send it exactly once")
    value = values[0]
    if isinstance(value, _NotText):
        raise MalformedHeader(header, f"expected a str value, got {value.type_name}")
    value = value.strip(_OWS)
    if not value:
        raise MalformedHeader(header, "it is empty")
    if not value.isascii():
        raise MalformedHeader(header, "it contains non-ASCII characters")
    return value


def _signature(found: dict[str, list[str | _NotText]]) -> str:
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


def _timestamp(found: dict[str, list[str | _NotText]]) -> int:
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
