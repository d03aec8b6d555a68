"""The named variants of a fake delivery, as a table: one `Row` per variant, in order.

A row names the variant, the verdict a correct receiver gives it, why (in words), the
`WebhookVerificationError` subclass `verify_webhook` raises for it, and how it is built: a
function of the `Context` (the delivery re-stamped at ``now``, its factory, the tolerance)
returning a `Change` of body, headers, timestamp or payload. Some rows apply only to some
deliveries (``when``). `Delivery.variants` runs the table and turns each row into a `Variant`.

Verdicts: ``"accept"`` (2xx, processed), ``"reject"`` (4xx, not processed) or ``"either"`` (the
documentation leaves it open; a receiver may accept or reject, but must not crash).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Literal

from pytest_helios.facts import (
    AGENTS,
    RUN_ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_PREFIX,
    TIMESTAMP_HEADER,
)
from pytest_helios.payloads.builders import serialize
from pytest_helios.webhooks.signing import new_webhook_secret, sign_webhook

if TYPE_CHECKING:
    from pytest_helios.webhooks.fakes import Delivery, WebhookFactory

__all__ = [
    "ACCEPT",
    "EITHER",
    "REJECT",
    "VARIANTS",
    "Change",
    "Context",
    "Headers",
    "Row",
    "Verdict",
    "set_header",
]

Verdict = Literal["accept", "reject", "either"]
ACCEPT: Verdict = "accept"
REJECT: Verdict = "reject"
EITHER: Verdict = "either"

Headers = tuple[tuple[str, str], ...]


def set_header(headers: Sequence[tuple[str, str]], name: str, value: str | None) -> Headers:
    """``headers`` with every ``name`` header (any case) removed and, unless ``value`` is
    ``None``, one ``name: value`` put first."""
    kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
    if value is not None:
        kept.insert(0, (name, value))
    return tuple(kept)


@dataclass(frozen=True)
class Context:
    """What the rows build from: ``base`` is the delivery with its timestamp set to ``now``."""

    base: Delivery
    factory: WebhookFactory
    now: int
    tolerance: int
    margin: int
    #: the valid ``X-Helios-Signature`` of ``base``'s body
    signature: str

    @property
    def digest(self) -> str:
        """The signature's lowercase hex digest, without ``sha256=``."""
        return self.signature.removeprefix(SIGNATURE_PREFIX)

    def signed(self, body: bytes, secret: str | None = None) -> Headers:
        """The headers signing ``body`` with ``secret`` (the delivery's), sent at ``now``."""
        key = self.base.secret if secret is None else secret
        return tuple(sign_webhook(body, key, timestamp=self.now, run_id=self.base.run_id).items())

    def with_header(self, name: str, value: str | None) -> Headers:
        """``base``'s headers with ``name`` set to ``value`` (``None``: removed)."""
        return set_header(self.base.headers, name, value)


@dataclass(frozen=True)
class Change:
    """How a variant differs from ``Context.base``; ``None`` (or ``...``) leaves it as it is.

    A new ``timestamp`` also rewrites the timestamp header; ``headers`` then replaces them all.
    ``payload`` is the parsed body the variant carries: ``None`` when the body is not the JSON
    object of a payload.
    """

    body: bytes | None = None
    headers: Headers | None = None
    timestamp: int | None = None
    payload: dict[str, Any] | EllipsisType | None = ...


def _always(context: Context) -> bool:
    return True


@dataclass(frozen=True)
class Row:
    """One named variant: its verdict, its reason, the error it raises and how it is built."""

    name: str
    expected: Verdict
    reason: str | Callable[[Context], str]
    error: str | None
    build: Callable[[Context], Change]
    when: Callable[[Context], bool] = _always

    def reason_for(self, context: Context) -> str:
        return self.reason if isinstance(self.reason, str) else self.reason(context)


# --- how the rows build their bodies ----------------------------------------------------------


def _canary_json(value: object, indent: str = "") -> str:
    """Valid JSON that any re-serializer changes: odd spacing, reversed keys, ``\\u`` escapes."""
    if isinstance(value, dict):
        inner = indent + "   "
        items = [
            f"\n{inner}{_canary_string(str(k))} :  {_canary_json(v, inner)}"
            for k, v in reversed(list(value.items()))
        ]
        return "{" + " ,".join(items) + f"\n{indent}}}"
    if isinstance(value, list):
        return "[ " + " , ".join(_canary_json(v, indent) for v in value) + " ]"
    if isinstance(value, str):
        return _canary_string(value)
    return json.dumps(value)


def _canary_string(text: str) -> str:
    escaped = json.dumps(text, ensure_ascii=True)[1:-1]
    return '"' + escaped.replace("/", "\\/").replace("-", "\\u002d").replace("é", "\\u00e9") + '"'


def _canary(context: Context) -> Change:
    canary = _canary_json(context.base.payload).encode("utf-8")
    return Change(body=canary, headers=context.signed(canary))


def _tampered(context: Context) -> Change:
    """The next ``sequenceNumber`` re-serialized, or the last byte flipped."""
    payload, body = context.base.payload, context.base.body
    if payload is not None and isinstance(payload.get("sequenceNumber"), int):
        return Change(body=serialize({**payload, "sequenceNumber": payload["sequenceNumber"] + 1}))
    return Change(body=body[:-1] + bytes([body[-1] ^ 1]) if body else b"{}")


def _signed_as_is(body: bytes) -> Callable[[Context], Change]:
    """``body`` in place of the delivery's, correctly signed; it carries no payload."""
    return lambda context: Change(body=body, headers=context.signed(body), payload=None)


def _non_utf8(context: Context) -> Change:
    body = b'{"runId":"' + context.base.run_id.encode() + b'","note":"\xff\xfe"}'
    return _signed_as_is(body)(context)


def _arabic_indic(number: int) -> str:
    return "".join(chr(0x0660 + int(d)) for d in str(number))


def _has_payload(context: Context) -> bool:
    return context.base.payload is not None


def _has_non_ascii_payload(context: Context) -> bool:
    return context.base.payload is not None and not context.base.body.isascii()


def _has_earlier_step(context: Context) -> bool:
    number = context.base.sequence_number
    agent = (context.base.payload or {}).get("agent")
    return number is not None and number > 1 and agent in AGENTS


def _out_of_order(context: Context) -> Change:
    """The previous status update of the same run, arriving now."""
    number = context.base.sequence_number or 0
    agent = str((context.base.payload or {}).get("agent"))
    earlier = context.factory.status_update(agent, number - 1, run_id=context.base.run_id)
    headers = set_header(earlier.headers, TIMESTAMP_HEADER, str(context.now))
    return Change(body=earlier.body, headers=headers, payload=earlier.payload)


# --- rows built in families -------------------------------------------------------------------


def _skewed(name: str, skew: Callable[[Context], int], expected: Verdict, error: str | None) -> Row:
    """A row sending the delivery ``skew(context)`` seconds away from ``now``."""

    def reason(context: Context) -> str:
        seconds = skew(context)
        where = "past" if seconds < 0 else "future"
        return (
            f"sent {abs(seconds)} s in the {where}; the tolerance is {context.tolerance} s "
            "either way, boundary included"
        )

    return Row(
        name, expected, reason, error, lambda context: Change(timestamp=context.now + skew(context))
    )


def _bad_signature(name: str, value: Callable[[Context], str], reason: str) -> Row:
    return Row(
        name,
        REJECT,
        f"malformed signature: {reason}",
        "MalformedHeader",
        lambda context: Change(headers=context.with_header(SIGNATURE_HEADER, value(context))),
    )


def _bad_timestamp(name: str, value: Callable[[Context], str], reason: str) -> Row:
    return Row(
        name,
        REJECT,
        f"malformed timestamp: {reason}",
        "MalformedHeader",
        lambda context: Change(headers=context.with_header(TIMESTAMP_HEADER, value(context))),
    )


# --- the table ------------------------------------------------------------------------------

VARIANTS: tuple[Row, ...] = (
    Row("valid", ACCEPT, "a correctly signed delivery", None, lambda context: Change()),
    Row(
        "lowercase-header-names",
        ACCEPT,
        "HTTP header names are case-insensitive; proxies and HTTP/2 lowercase them",
        None,
        lambda context: Change(headers=tuple((k.lower(), v) for k, v in context.base.headers)),
    ),
    Row(
        "reserialization-canary",
        ACCEPT,
        "valid, but spaced, key-reversed and \\u-escaped: a handler that verifies "
        "re-serialized JSON instead of the raw bytes breaks on it",
        None,
        _canary,
        when=_has_payload,
    ),
    Row(
        "non-ascii-body",
        ACCEPT,
        "raw UTF-8 text (emoji) in the body",
        None,
        lambda context: Change(),
        when=_has_non_ascii_payload,
    ),
    Row(
        "tampered-body",
        REJECT,
        "the body was changed after signing",
        "SignatureMismatch",
        _tampered,
    ),
    Row(
        "tampered-whitespace",
        REJECT,
        "a newline appended after signing: same JSON, different bytes",
        "SignatureMismatch",
        lambda context: Change(body=context.base.body + b"\n"),
    ),
    Row(
        "wrong-secret",
        REJECT,
        "signed with a secret that is not the account's",
        "SignatureMismatch",
        lambda context: Change(headers=context.signed(context.base.body, new_webhook_secret())),
    ),
    Row(
        "previous-secret",
        REJECT,
        "signed with the secret that Regenerate replaced (and so invalidated)",
        "SignatureMismatch",
        lambda context: Change(
            headers=context.signed(context.base.body, context.factory.previous_secret)
        ),
    ),
    _skewed(
        "stale-timestamp",
        lambda context: -(context.tolerance + 1),
        REJECT,
        "TimestampOutOfTolerance",
    ),
    _skewed(
        "future-timestamp",
        lambda context: context.tolerance + 1 + context.margin,
        REJECT,
        "TimestampOutOfTolerance",
    ),
    _skewed(
        "timestamp-at-past-boundary",
        lambda context: -context.tolerance + context.margin,
        ACCEPT,
        None,
    ),
    _skewed("timestamp-at-future-boundary", lambda context: context.tolerance, ACCEPT, None),
    Row(
        "millisecond-timestamp",
        REJECT,
        "the timestamp is in milliseconds, not seconds",
        "TimestampOutOfTolerance",
        lambda context: Change(timestamp=context.now * 1000),
    ),
    Row(
        "missing-signature",
        REJECT,
        f"no {SIGNATURE_HEADER} header",
        "MissingHeader",
        lambda context: Change(headers=context.with_header(SIGNATURE_HEADER, None)),
    ),
    Row(
        "missing-timestamp",
        REJECT,
        f"no {TIMESTAMP_HEADER} header",
        "MissingHeader",
        lambda context: Change(headers=context.with_header(TIMESTAMP_HEADER, None)),
    ),
    Row(
        "missing-run-id",
        EITHER,
        f"no {RUN_ID_HEADER} header; it is unsigned and the body carries runId",
        None,
        lambda context: Change(headers=context.with_header(RUN_ID_HEADER, None)),
    ),
    Row(
        "missing-content-type",
        EITHER,
        "no Content-Type header; the signature alone authenticates the body",
        None,
        lambda context: Change(headers=context.with_header("Content-Type", None)),
    ),
    _bad_signature("empty-signature", lambda context: "", "an empty signature"),
    _bad_signature(
        "signature-without-prefix",
        lambda context: context.digest,
        f"the hex digest without '{SIGNATURE_PREFIX}'",
    ),
    _bad_signature(
        "signature-uppercase-prefix",
        lambda context: SIGNATURE_PREFIX.upper() + context.digest,
        f"'{SIGNATURE_PREFIX.upper()}' instead of '{SIGNATURE_PREFIX}'",
    ),
    _bad_signature(
        "signature-uppercase-hex",
        lambda context: SIGNATURE_PREFIX + context.digest.upper(),
        "the digest in uppercase hex",
    ),
    _bad_signature("signature-too-short", lambda context: context.signature[:-1], "63 hex digits"),
    _bad_signature("signature-too-long", lambda context: context.signature + "0", "65 hex digits"),
    _bad_signature(
        "signature-non-ascii",
        lambda context: context.signature[:-1] + "é",
        "a non-ASCII character in the digest",
    ),
    _bad_signature(
        "signature-sha1", lambda context: "sha1=" + context.digest[:40], "another algorithm"
    ),
    Row(
        "duplicate-signature-header",
        EITHER,
        "the signature header twice (a valid and a bogus one); rejecting is safest",
        None,
        lambda context: Change(
            headers=(*context.base.headers, (SIGNATURE_HEADER.lower(), SIGNATURE_PREFIX + "0" * 64))
        ),
    ),
    _bad_timestamp(
        "timestamp-not-a-number", lambda context: "yesterday", "a timestamp that is not a number"
    ),
    _bad_timestamp(
        "timestamp-non-ascii-digits",
        lambda context: _arabic_indic(context.now),
        "digits of another script",
    ),
    _bad_timestamp(
        "timestamp-with-fraction", lambda context: f"{context.now}.5", "fractional seconds"
    ),
    Row(
        "non-utf8-body",
        EITHER,
        "correctly signed bytes that are not UTF-8: reject or accept, never crash",
        None,
        _non_utf8,
    ),
    Row(
        "json-array-body",
        EITHER,
        "a correctly signed JSON array instead of an object: reject or accept, never crash",
        None,
        _signed_as_is(b"[]"),
    ),
    Row(
        "replayed-with-fresh-timestamp",
        ACCEPT,
        "the timestamp is unsigned, so a captured body replayed now still verifies: "
        "deduplicate on (runId, sequenceNumber)",
        None,
        lambda context: Change(timestamp=context.now + 1),
    ),
    Row(
        "duplicate-delivery",
        ACCEPT,
        "a byte-identical retry of a delivery already sent",
        None,
        lambda context: Change(),
    ),
    Row(
        "out-of-order",
        ACCEPT,
        lambda context: (
            f"the status update with sequenceNumber {(context.base.sequence_number or 0) - 1} "
            "arriving after this one: order by sequenceNumber, do not reject"
        ),
        None,
        _out_of_order,
        when=_has_earlier_step,
    ),
)
"""Every named variant, in the order `Delivery.variants` returns them."""
