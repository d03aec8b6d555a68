"""Fuzzing verify_webhook: on any input whatsoever it returns the payload or raises a
WebhookVerificationError subclass, and a delivery that verifies is exactly one that was signed.

The number of examples per property is HELIOS_FUZZ_EXAMPLES (see conftest.py).
"""

from __future__ import annotations

import json
import secrets as stdlib_secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios.exceptions import MalformedBody, SignatureMismatch, WebhookVerificationError
from pytest_helios.masking import MaskedSecret
from pytest_helios.webhooks.signing import (
    compute_signature,
    sign_webhook,
    verify_webhook,
    verify_webhook_signature,
)

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

NOW = 1_705_320_000
FUZZ = settings(
    max_examples=scale().fuzz_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEADER_NAMES = ("X-Helios-Signature", "X-Helios-Timestamp", "X-Helios-Run-ID", "Content-Type")


def _case_variants(name: str) -> st.SearchStrategy[str]:
    def apply(flips: list[bool]) -> str:
        return "".join(c.upper() if f else c.lower() for c, f in zip(name, flips, strict=True))

    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(apply)


header_names = st.one_of(
    st.sampled_from(HEADER_NAMES).flatmap(_case_variants),
    st.text(max_size=30),
    st.sampled_from(HEADER_NAMES).map(lambda n: f" {n}\t"),
)
hostile_text = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"sha256=[0-9a-fA-F]{0,70}", fullmatch=True),
    st.from_regex(r"\s*(sha256|SHA256|sha1)=[0-9a-f]{64}\s*", fullmatch=True),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", " ", "\uff11\uff17\uff10", "1e9", "0x10", "+1705320000", "∞", "\x00"]),
)
header_values: st.SearchStrategy[Any] = st.one_of(
    hostile_text,
    hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),
    st.none(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=5), max_size=3),
)
header_pairs = st.lists(st.tuples(header_names, header_values), max_size=8)
headers_any: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(header_names, header_values, max_size=8),
    header_pairs,
    header_pairs.map(lambda ps: [(str(n).encode("utf-8", "surrogatepass"), v) for n, v in ps]),
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.lists(st.one_of(st.none(), st.integers(), st.tuples(st.integers())), max_size=3),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
bodies: st.SearchStrategy[Any] = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"{", b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe{}", b"NaN", b"{}"]),
    st.text(max_size=50),  # a str where bytes belong
    st.none(),
    st.integers(),
    st.builds(bytearray, st.binary(max_size=50)),
    st.builds(memoryview, st.binary(max_size=50)),
)
secret_values: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=40),
    st.text(min_size=1, max_size=40).map(MaskedSecret),
    st.lists(st.text(max_size=20), max_size=4),
    st.tuples(st.text(max_size=10), st.integers()),
    st.binary(max_size=20),
    st.none(),
    st.integers(),
    st.just(["whsec_a", None]),
)
numbers: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


@FUZZ
@given(body=bodies, headers=headers_any, secret=secret_values, tolerance=numbers, now=numbers)
def test_verify_webhook_only_ever_returns_a_payload_or_raises_a_verification_error(
    body: Any, headers: Any, secret: Any, tolerance: Any, now: Any
) -> None:
    TALLY["fuzzing", "verify_webhook and verify_webhook_signature, arbitrary arguments"] += 1
    for verify in (verify_webhook, verify_webhook_signature):
        try:
            result = verify(body, headers, secret, tolerance=tolerance, now=now)
        except WebhookVerificationError as error:
            assert str(error)  # every rejection says why
        else:
            assert isinstance(result, (dict, bytes))


@FUZZ
@given(
    body=bodies,
    headers=st.dictionaries(header_names, header_values, max_size=6),
    signature_like=st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True),
)
def test_well_formed_but_unsigned_headers_are_never_accepted(
    body: Any, headers: dict[Any, Any], signature_like: str
) -> None:
    secret = "whsec_" + "ab" * 24
    headers = {**headers, "X-Helios-Signature": signature_like, "X-Helios-Timestamp": str(NOW)}
    TALLY["fuzzing", "verify_webhook, well-formed forged signatures"] += 1
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret, now=NOW)


def _refuse(constant: str) -> None:
    raise ValueError(constant)


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=400), json_values.map(lambda v: json.dumps(v).encode())),
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_a_signed_delivery_verifies_exactly_when_untouched(
    body: bytes, position: int, flip: int, skew: int
) -> None:
    secret = "whsec_" + stdlib_secrets.token_hex(24)
    headers = sign_webhook(body, secret, timestamp=NOW + skew, run_id="run")
    TALLY["fuzzing", "verify_webhook, signed deliveries and one-byte tamperings"] += 2
    try:
        payload = verify_webhook(body, headers, [secret, "whsec_other"], now=NOW)
    except MalformedBody:
        try:  # strict JSON, as documented: NaN and Infinity are not JSON values
            parsed = json.loads(body, parse_constant=_refuse)
        except ValueError:
            parsed = None
        assert not isinstance(parsed, dict)
    else:
        assert payload == json.loads(body)
    if body:
        tampered = bytearray(body)
        tampered[position % len(body)] ^= flip
        with pytest.raises(SignatureMismatch):
            verify_webhook(bytes(tampered), headers, secret, now=NOW)
    assert headers["X-Helios-Signature"] == compute_signature(body, secret)
