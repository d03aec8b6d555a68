"""sign_webhook and verify_webhook: properties first, then the exact messages users see."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_helios import (
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    SignatureMismatch,
    TimestampOutOfTolerance,
    VerifierMisconfigured,
    WebhookVerificationError,
    mask_secret,
    sign_webhook,
    verify_webhook,
)
from pytest_helios.webhooks import verify_webhook_signature

from .hostile import (
    ItemsFailingMidway,
    ItemsRecursing,
    MappingMissingItsKeys,
    Unreadable,
    containing_itself,
    hostile,
)

NOW = 1_705_320_000
RUN_ID = "550e8400-e29b-41d4-a716-446655440000"

secret_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)
json_objects = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ),
    max_size=5,
)
timestamps = st.integers(min_value=0, max_value=4_000_000_000)


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(16)


def signed(body: bytes, secret: str, timestamp: int = NOW) -> dict[str, str]:
    return sign_webhook(body, secret, timestamp=timestamp, run_id=RUN_ID)


def verdict(body: object, headers: object, secret: object, **kwargs: Any) -> str:
    """'accepted', or the name of the WebhookVerificationError subclass raised."""
    try:
        verify_webhook_signature(body, headers, secret, **kwargs)  # type: ignore[arg-type]
    except WebhookVerificationError as exc:
        return type(exc).__name__
    return "accepted"


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(payload=json_objects, secret=secret_text, timestamp=timestamps, data=st.data())
def test_a_signed_payload_verifies_and_comes_back_parsed_for_any_secret_and_timestamp(
    payload: dict[str, Any], secret: str, timestamp: int, data: st.DataObject
) -> None:
    body = json.dumps(payload).encode()
    now = timestamp + data.draw(st.integers(-300, 300), label="skew")
    assert verify_webhook(body, signed(body, secret, timestamp), secret, now=now) == payload


@settings(max_examples=150, deadline=None)
@given(body=st.binary(min_size=1, max_size=300), secret=secret_text, data=st.data())
def test_any_single_byte_change_of_the_body_is_a_signature_mismatch(
    body: bytes, secret: str, data: st.DataObject
) -> None:
    headers = signed(body, secret)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
    tampered = body[:index] + bytes([new_byte]) + body[index + 1 :]
    assert verdict(tampered, headers, secret, now=NOW) == "SignatureMismatch"


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=200), secret=secret_text, data=st.data())
def test_any_single_hex_digit_change_of_the_signature_is_a_signature_mismatch(
    body: bytes, secret: str, data: st.DataObject
) -> None:
    headers = signed(body, secret)
    signature = headers["X-Helios-Signature"]
    index = data.draw(st.integers(len("sha256="), len(signature) - 1), label="index")
    digit = data.draw(st.sampled_from("0123456789abcdef").filter(lambda c: c != signature[index]))
    headers["X-Helios-Signature"] = signature[:index] + digit + signature[index + 1 :]
    assert verdict(body, headers, secret, now=NOW) == "SignatureMismatch"


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=100), data=st.data())
def test_any_other_single_character_change_of_the_signature_is_a_malformed_header(
    body: bytes, data: st.DataObject
) -> None:
    secret = new_secret()
    headers = signed(body, secret)
    signature = headers["X-Helios-Signature"]
    index = data.draw(st.integers(0, len(signature) - 1), label="index")
    char = data.draw(
        st.characters(blacklist_categories=("Cs",)).filter(
            lambda c: (
                c != signature[index]
                and not (index >= len("sha256=") and c in "0123456789abcdef")
                and c not in " \t"
            )
        ),
        label="char",
    )
    headers["X-Helios-Signature"] = signature[:index] + char + signature[index + 1 :]
    assert verdict(body, headers, secret, now=NOW) == "MalformedHeader"


@settings(max_examples=200, deadline=None)
@given(skew=st.integers(-2000, 2000), tolerance=st.integers(0, 1000))
@example(skew=300, tolerance=300)
@example(skew=-300, tolerance=300)
@example(skew=301, tolerance=300)
@example(skew=-301, tolerance=300)
def test_the_timestamp_is_accepted_exactly_when_within_tolerance_in_either_direction(
    skew: int, tolerance: int
) -> None:
    """Skew is now - timestamp: positive means the delivery is from the past."""
    secret = new_secret()
    body = b"{}"
    result = verdict(body, signed(body, secret, NOW), secret, now=NOW + skew, tolerance=tolerance)
    assert result == ("accepted" if abs(skew) <= tolerance else "TimestampOutOfTolerance")


@settings(max_examples=100, deadline=None)
@given(skew=st.integers(-2000, 2000), tolerances=st.lists(st.integers(0, 2000), min_size=2))
def test_acceptance_is_monotonic_in_the_tolerance(skew: int, tolerances: list[int]) -> None:
    """Once a tolerance accepts a delivery, every larger tolerance accepts it too."""
    secret = new_secret()
    body = b"{}"
    headers = signed(body, secret, NOW)
    outcomes = [
        verdict(body, headers, secret, now=NOW + skew, tolerance=t) == "accepted"
        for t in sorted(tolerances)
    ]
    assert outcomes == sorted(outcomes)


@settings(max_examples=100, deadline=None)
@given(
    others=st.lists(secret_text, max_size=4),
    position=st.integers(0, 4),
    order=st.randoms(use_true_random=False),
)
def test_any_list_of_secrets_containing_the_signing_one_accepts_in_any_order(
    others: list[str], position: int, order: Any
) -> None:
    secret = new_secret()
    body = b'{"runId": "r"}'
    headers = signed(body, secret)
    candidates = [s for s in others if s != secret]
    candidates.insert(min(position, len(candidates)), secret)
    shuffled = list(candidates)
    order.shuffle(shuffled)
    assert verify_webhook(body, headers, candidates, now=NOW) == {"runId": "r"}
    assert verify_webhook(body, headers, shuffled, now=NOW) == {"runId": "r"}
    assert verify_webhook(body, headers, tuple(reversed(candidates)), now=NOW) == {"runId": "r"}


@settings(max_examples=100, deadline=None)
@given(others=st.lists(secret_text, min_size=1, max_size=4))
def test_a_list_of_secrets_without_the_signing_one_is_a_signature_mismatch(
    others: list[str],
) -> None:
    secret = new_secret()
    body = b"{}"
    wrong = [s for s in others if s != secret] or ["x"]
    assert verdict(body, signed(body, secret), wrong, now=NOW) == "SignatureMismatch"


header_names = st.sampled_from(
    ["X-Helios-Signature", "x-helios-signature", "X-HELIOS-TIMESTAMP", "x-helios-timestamp"]
) | st.text(max_size=20)
header_values: st.SearchStrategy[object] = (
    st.text(max_size=80)
    | st.binary(max_size=80)
    | st.none()
    | st.integers()
    | st.builds(lambda s: "sha256=" + s, st.text("0123456789abcdefABCDEF", max_size=70))
)
any_headers: st.SearchStrategy[object] = (
    st.dictionaries(header_names, header_values, max_size=5)
    | st.lists(st.tuples(header_names | st.binary(max_size=20), header_values), max_size=6)
    | st.lists(
        st.tuples(header_names.map(lambda n: n.encode("utf-8")), st.binary(max_size=40)),
        max_size=4,
    ).map(httpx.Headers)
    | st.none()
    | st.integers()
    | st.text(max_size=10)
    | st.lists(st.integers(), max_size=3)
)
any_secret: st.SearchStrategy[object] = (
    st.text(max_size=20)
    | st.binary(max_size=20)
    | st.lists(st.text(max_size=10) | st.none() | st.integers(), max_size=3)
    | st.none()
    | st.integers()
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200) | st.text(max_size=100) | st.none() | st.integers(),
    headers=any_headers,
    secret=any_secret,
    now=st.none() | st.integers(0, 4_000_000_000) | st.floats(),
    tolerance=st.integers(-5, 1000) | st.none() | st.booleans(),
)
def test_verify_webhook_returns_a_dict_or_raises_a_verification_error_on_any_input(
    body: object, headers: object, secret: object, now: object, tolerance: object
) -> None:
    try:
        result = verify_webhook(body, headers, secret, now=now, tolerance=tolerance)  # type: ignore[arg-type]
    except WebhookVerificationError as exc:
        assert str(exc)
    else:
        assert isinstance(result, dict)


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=100),
    headers=any_headers,
    secret_list=st.lists(
        st.text("ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ", min_size=12), min_size=1
    ),
    now=st.integers(0, 4_000_000_000),
)
def test_no_verification_error_message_ever_contains_a_secret(
    body: bytes, headers: object, secret_list: list[str], now: int
) -> None:
    try:
        verify_webhook(body, headers, secret_list, now=now)  # type: ignore[arg-type]
    except WebhookVerificationError as exc:
        for secret in secret_list:
            assert secret not in str(exc)
            assert secret not in repr(exc)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300))
def test_any_correctly_signed_bytes_either_parse_to_an_object_or_are_a_malformed_body(
    body: bytes,
) -> None:
    secret = new_secret()
    try:
        result = verify_webhook(body, signed(body, secret), secret, now=NOW)
    except MalformedBody:
        return
    assert isinstance(result, dict)


# --- header lookup --------------------------------------------------------------------------


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def body() -> bytes:
    return json.dumps({"runId": RUN_ID, "status": "completed", "sequenceNumber": 7}).encode()


def test_the_signature_is_the_lowercase_hex_hmac_of_the_raw_body(body: bytes, secret: str) -> None:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signed(body, secret) == {
        "X-Helios-Signature": "sha256=" + digest,
        "X-Helios-Timestamp": str(NOW),
        "X-Helios-Run-ID": RUN_ID,
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda h: {k.lower(): v for k, v in h.items()}, id="lowercase-names"),
        pytest.param(lambda h: {k.upper(): v for k, v in h.items()}, id="uppercase-names"),
        pytest.param(lambda h: list(h.items()), id="list-of-pairs"),
        pytest.param(
            lambda h: [(k.lower().encode(), v.encode()) for k, v in h.items()], id="asgi-bytes"
        ),
        pytest.param(httpx.Headers, id="httpx-headers"),
        pytest.param(lambda h: {k: f" {v}\t" for k, v in h.items()}, id="surrounding-whitespace"),
    ],
)
def test_headers_are_found_case_insensitively_in_every_common_container(
    body: bytes, secret: str, transform: Any
) -> None:
    assert verify_webhook(body, transform(signed(body, secret)), secret, now=NOW)["runId"] == RUN_ID


def test_the_run_id_and_content_type_headers_are_not_needed_to_verify(
    body: bytes, secret: str
) -> None:
    headers = signed(body, secret)
    del headers["X-Helios-Run-ID"], headers["Content-Type"]
    assert verify_webhook(body, headers, secret, now=NOW)["sequenceNumber"] == 7


def test_a_str_body_is_verified_as_its_utf8_bytes(secret: str) -> None:
    text = '{"note": "## 👤 Your Health Summary"}'
    headers = signed(text.encode(), secret)
    assert verify_webhook(text, headers, secret, now=NOW) == json.loads(text)  # type: ignore[arg-type]


# --- exact messages -------------------------------------------------------------------------


def rejection(body: object, headers: object, secret: object, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(body, headers, secret, **{"now": NOW, **kwargs})  # type: ignore[arg-type]
    return f"{type(info.value).__name__}: {info.value}"


@pytest.mark.parametrize("header", ["X-Helios-Signature", "X-Helios-Timestamp"])
def test_a_missing_header_is_named(body: bytes, secret: str, header: str) -> None:
    headers = signed(body, secret)
    del headers[header]
    assert rejection(body, headers, secret) == f"MissingHeader: {header} header is missing"
    headers[header] = None  # type: ignore[assignment]
    assert rejection(body, headers, secret) == f"MissingHeader: {header} header is missing"


def test_empty_headers_report_the_missing_signature_first(body: bytes, secret: str) -> None:
    for empty in ({}, [], None, httpx.Headers()):
        assert rejection(body, empty, secret) == (
            "MissingHeader: X-Helios-Signature header is missing"
        )


@pytest.mark.parametrize(
    ("signature", "problem"),
    [
        ("{hex}", "the 'sha256=' prefix is missing"),
        ("SHA256={hex}", "the prefix must be lowercase 'sha256=', got 'SHA256'"),
        ("sha1={hex}", "the algorithm must be 'sha256', got 'sha1'"),
        ("sha256={HEX}", "the hex digest must be lowercase, it has uppercase digits"),
        ("sha256={hex}0", "the hex digest must be 64 characters, got 65"),
        ("sha256={short}", "the hex digest must be 64 characters, got 63"),
        ("sha256=", "the hex digest must be 64 characters, got 0"),
        ("sha256={g}", "the digest contains characters that are not hex digits"),
        ("sha256={hex}é", "it contains non-ASCII characters"),
        ("", "it is empty"),
    ],
)
def test_a_malformed_signature_says_what_is_wrong_with_it(
    body: bytes, secret: str, signature: str, problem: str
) -> None:
    headers = signed(body, secret)
    digest = headers["X-Helios-Signature"].removeprefix("sha256=")
    headers["X-Helios-Signature"] = signature.format(
        hex=digest, HEX=digest.upper(), short=digest[:-1], g="g" * 64
    )
    assert rejection(body, headers, secret) == (
        f"MalformedHeader: X-Helios-Signature header is malformed: {problem}"
    )


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        ("1705320000.5", "expected whole Unix seconds (ASCII digits only), got '1705320000.5'"),
        ("-1", "expected whole Unix seconds (ASCII digits only), got '-1'"),
        ("+1705320000", "expected whole Unix seconds (ASCII digits only), got '+1705320000'"),
        ("yesterday", "expected whole Unix seconds (ASCII digits only), got 'yesterday'"),
        ("١٧٠٥٣٢٠٠٠٠", "it contains non-ASCII characters"),
        ("9" * 5000, "expected Unix seconds, got a number of 5000 digits"),
    ],
)
def test_a_malformed_timestamp_says_what_is_wrong_with_it(
    body: bytes, secret: str, timestamp: str, problem: str
) -> None:
    headers = signed(body, secret)
    headers["X-Helios-Timestamp"] = timestamp
    assert rejection(body, headers, secret) == (
        f"MalformedHeader: X-Helios-Timestamp header is malformed: {problem}"
    )


def test_a_repeated_signature_header_is_malformed_even_with_equal_values(
    body: bytes, secret: str
) -> None:
    headers = list(signed(body, secret).items())
    headers.append(("x-helios-signature", headers[0][1]))
    assert rejection(body, headers, secret) == (
        "MalformedHeader: X-Helios-Signature header is malformed: it appears 2 times; "
        "send it exactly once"
    )


def test_headers_that_are_not_a_mapping_or_pairs_are_malformed(body: bytes, secret: str) -> None:
    assert rejection(body, 42, secret) == (
        "MalformedHeader: headers header is malformed: expected a mapping of header names to "
        "values or a list of (name, value) pairs, got int"
    )


@pytest.mark.parametrize(
    ("skew", "message"),
    [
        (
            301,
            "X-Helios-Timestamp 1705320000 is 301 s in the past; "
            "the tolerance is 300 s either way (now=1705320301)",
        ),
        (
            -301,
            "X-Helios-Timestamp 1705320000 is 301 s in the future; "
            "the tolerance is 300 s either way (now=1705319699)",
        ),
    ],
)
def test_a_timestamp_out_of_tolerance_says_how_far_and_which_way(
    body: bytes, secret: str, skew: int, message: str
) -> None:
    assert rejection(body, signed(body, secret), secret, now=NOW + skew) == (
        f"TimestampOutOfTolerance: {message}"
    )


def test_a_millisecond_timestamp_is_out_of_tolerance(body: bytes, secret: str) -> None:
    headers = signed(body, secret, NOW * 1000)
    assert rejection(body, headers, secret).startswith(
        "TimestampOutOfTolerance: X-Helios-Timestamp 1705320000000 is "
    )


def test_a_wrong_secret_is_a_signature_mismatch_that_hints_at_raw_bytes(
    body: bytes, secret: str
) -> None:
    other = new_secret()
    message = rejection(body, signed(body, secret), other)
    assert message == (
        "SignatureMismatch: X-Helios-Signature does not match the body signed with the webhook "
        "secret: verify the exact raw request bytes (not re-serialized JSON) with the current "
        "secret"
    )
    assert other not in message
    assert rejection(body, signed(body, secret), [other, new_secret()]).startswith(
        "SignatureMismatch: X-Helios-Signature does not match the body signed with any of 2 "
        "secrets:"
    )


def test_a_reserialized_body_does_not_verify(secret: str) -> None:
    raw = b'{ "runId" : "r",\n  "note": "caf\\u00e9" }'
    reserialized = json.dumps(json.loads(raw)).encode()
    assert verify_webhook(raw, signed(raw, secret), secret, now=NOW) == {
        "runId": "r",
        "note": "café",
    }
    assert rejection(reserialized, signed(raw, secret), secret).startswith("SignatureMismatch:")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe{}", "it is not UTF-8 (invalid byte at offset 0)"),
        (b'{"a": "\xe9"}', "it is not UTF-8 (invalid byte at offset 7)"),
        (b"", "it is not JSON (Expecting value at offset 0)"),
        (b'{"a": 1', "it is not JSON (Expecting ',' delimiter at offset 7)"),
        (b"[1, 2]", "it is JSON but not an object (got list)"),
        (b'"text"', "it is JSON but not an object (got str)"),
        (b'{"a": NaN}', "it is not strict JSON (NaN is not a JSON value)"),
        (b"[" * 100_000, "it is nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "it is not strict JSON (Exceeds the limit (4300 digits)"),
    ],
)
def test_a_verified_body_that_is_not_a_json_object_is_a_malformed_body(
    secret: str, raw: bytes, problem: str
) -> None:
    message = rejection(raw, signed(raw, secret), secret)
    assert message.startswith(f"MalformedBody: the webhook body is malformed: {problem}")


def test_a_body_of_the_wrong_type_is_a_malformed_body_with_a_hint(secret: str) -> None:
    assert rejection({"runId": "r"}, {}, secret) == (
        "MalformedBody: the webhook body is malformed: expected the raw bytes, got dict "
        "(pass the raw request bytes, not parsed JSON)"
    )


@pytest.mark.parametrize(
    ("bad_secret", "message"),
    [
        ("", "an unusable secret: it is empty (is the webhook secret configured?)"),
        ([], "an unusable secret: the list of secrets is empty"),
        (None, "an unusable secret: expected a str or a list of str, got NoneType"),
        (
            ["ok-secret", ""],
            "an unusable secret[1]: it is empty (is the webhook secret configured?)",
        ),
        (["ok-secret", 7], "an unusable secret[1]: expected a str, got int"),
        ("\ud800", "an unusable secret: it cannot be encoded as UTF-8"),
    ],
)
def test_an_unusable_secret_is_a_clear_misconfiguration_not_a_type_error(
    body: bytes, bad_secret: object, message: str
) -> None:
    assert rejection(body, {}, bad_secret) == (
        f"VerifierMisconfigured: verify_webhook was called with {message}"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tolerance": -1}, "an unusable tolerance: it must not be negative, got -1"),
        ({"tolerance": "300"}, "an unusable tolerance: expected int seconds, got str"),
        ({"now": "now"}, "an unusable now: expected int Unix seconds, got str"),
        ({"now": float("nan")}, "an unusable now: it is not a finite number"),
    ],
)
def test_an_unusable_tolerance_or_clock_is_a_clear_misconfiguration(
    body: bytes, secret: str, kwargs: dict[str, object], message: str
) -> None:
    assert rejection(body, signed(body, secret), secret, **kwargs) == (
        f"VerifierMisconfigured: verify_webhook was called with {message}"
    )


def test_every_verification_error_has_a_stable_reason_code() -> None:
    assert {
        cls.__name__: cls.reason
        for cls in (
            MissingHeader,
            MalformedHeader,
            SignatureMismatch,
            TimestampOutOfTolerance,
            MalformedBody,
            VerifierMisconfigured,
        )
    } == {
        "MissingHeader": "missing-header",
        "MalformedHeader": "malformed-header",
        "SignatureMismatch": "signature-mismatch",
        "TimestampOutOfTolerance": "timestamp-out-of-tolerance",
        "MalformedBody": "malformed-body",
        "VerifierMisconfigured": "verifier-misconfigured",
    }


# --- hostile arguments: whatever they are or do, only a WebhookVerificationError ---------------


@pytest.mark.parametrize(
    "argument",
    [
        "secret as a str subclass",
        "secret in a list, as a str subclass",
        "secret as a bytes subclass",
        "body as a bytes subclass",
        "body as a bytearray subclass",
        "body as a str subclass",
        "header names as str subclasses",
        "header values as str subclasses",
        "header names and values as bytes subclasses",
        "tolerance as an int subclass",
        "now as an int subclass",
        "now as a float subclass",
    ],
)
def test_str_bytes_int_and_float_subclasses_are_read_as_plain_values_without_their_methods(
    body: bytes, secret: str, argument: str
) -> None:
    """A str subclass (MaskedSecret, a StrEnum, multidict's istr) may override any method."""
    pairs = list(signed(body, secret).items())
    arguments: dict[str, Any] = {
        "body": body,
        "headers": pairs,
        "secret": secret,
        "tolerance": 300,
        "now": NOW + 1,
    }
    arguments.update(
        {
            "secret as a str subclass": {"secret": hostile(str)(secret)},
            "secret in a list, as a str subclass": {"secret": ["x", hostile(str)(secret)]},
            "secret as a bytes subclass": {"secret": hostile(bytes)(secret.encode())},
            "body as a bytes subclass": {"body": hostile(bytes)(body)},
            "body as a bytearray subclass": {"body": hostile(bytearray)(body)},
            "body as a str subclass": {"body": hostile(str)(body.decode())},
            "header names as str subclasses": {"headers": [(hostile(str)(n), v) for n, v in pairs]},
            "header values as str subclasses": {
                "headers": [(n, hostile(str)(v)) for n, v in pairs]
            },
            "header names and values as bytes subclasses": {
                "headers": [
                    (hostile(bytes)(n.encode()), hostile(bytes)(v.encode())) for n, v in pairs
                ]
            },
            "tolerance as an int subclass": {"tolerance": hostile(int)(300)},
            "now as an int subclass": {"now": hostile(int)(NOW + 1)},
            "now as a float subclass": {"now": hostile(float)(NOW + 1.5)},
        }[argument]
    )
    assert verify_webhook(**arguments)["runId"] == RUN_ID
    assert verify_webhook_signature(**arguments) == body


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "secret",
            "VerifierMisconfigured: verify_webhook was called with an unusable secret: "
            "expected a str or a list of str, got Unreadable",
        ),
        (
            "body",
            "MalformedBody: the webhook body is malformed: expected the raw bytes, got Unreadable",
        ),
        (
            "headers",
            "MalformedHeader: headers header is malformed: expected a mapping of header names "
            "to values or a list of (name, value) pairs, got Unreadable",
        ),
        (
            "tolerance",
            "VerifierMisconfigured: verify_webhook was called with an unusable tolerance: "
            "expected int seconds, got Unreadable",
        ),
        (
            "now",
            "VerifierMisconfigured: verify_webhook was called with an unusable now: "
            "expected int Unix seconds, got Unreadable",
        ),
    ],
)
def test_an_object_whose_class_and_type_name_raise_is_rejected_as_its_argument(
    body: bytes, secret: str, argument: str, message: str
) -> None:
    arguments: dict[str, Any] = {"body": body, "headers": signed(body, secret), "secret": secret}
    arguments[argument] = Unreadable()
    assert rejection(**arguments) == message


@pytest.mark.parametrize(
    ("make_headers", "problem"),
    [
        pytest.param(
            ItemsFailingMidway,
            "expected a mapping of header names to values or a list of (name, value) pairs, "
            "got ItemsFailingMidway",
            id="raising-while-iterated",
        ),
        pytest.param(
            lambda h: ItemsRecursing(),
            "expected a mapping of header names to values or a list of (name, value) pairs, "
            "got ItemsRecursing",
            id="endless-recursion",
        ),
        pytest.param(
            lambda h: MappingMissingItsKeys(),
            "expected a mapping of header names to values or a list of (name, value) pairs, "
            "got MappingMissingItsKeys",
            id="mapping-raising-key-error",
        ),
        pytest.param(
            lambda h: containing_itself(),
            "expected a mapping of header names to values or a list of (name, value) pairs, "
            "got list",
            id="a-list-containing-itself",
        ),
        pytest.param(
            lambda h: itertools.chain(h.items(), itertools.repeat(("X-Other", "v"))),
            "more than 10,000 headers",
            id="endless-iterator",
        ),
    ],
)
def test_a_header_container_that_fails_or_never_ends_is_a_malformed_header(
    body: bytes, secret: str, make_headers: Any, problem: str
) -> None:
    assert rejection(body, make_headers(signed(body, secret)), secret) == (
        f"MalformedHeader: headers header is malformed: {problem}"
    )


def _failing_secrets(secret: str) -> Iterator[str]:
    yield secret
    raise ValueError(f"no more secrets after {secret}")


@pytest.mark.parametrize(
    ("make_secret", "problem"),
    [
        pytest.param(
            _failing_secrets, "an unusable secret: reading it raised ValueError", id="raising"
        ),
        pytest.param(
            itertools.repeat,
            "an unusable secret: more than 100 secrets (a rotation needs two)",
            id="endless",
        ),
        pytest.param(
            lambda s: containing_itself(),
            "an unusable secret[0]: expected a str, got list",
            id="a-list-containing-itself",
        ),
    ],
)
def test_secrets_that_fail_or_never_end_are_a_misconfiguration_that_never_shows_them(
    body: bytes, secret: str, make_secret: Any, problem: str
) -> None:
    message = rejection(body, signed(body, secret), make_secret(secret))
    assert message == f"VerifierMisconfigured: verify_webhook was called with {problem}"
    assert secret not in message


def test_a_secret_may_be_given_as_its_utf8_bytes_alone_or_in_a_list(
    body: bytes, secret: str
) -> None:
    headers = signed(body, secret)
    assert verify_webhook(body, headers, secret.encode(), now=NOW)["runId"] == RUN_ID
    assert verify_webhook(body, headers, [b"old", bytearray(secret.encode())], now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"now": 10**5000},
            "an unusable now: expected Unix seconds of at most 15 digits, "
            "got a number of about 5,001 digits",
        ),
        (
            {"now": -(10**5000)},
            "an unusable now: expected Unix seconds of at most 15 digits, "
            "got a negative number of about 5,001 digits",
        ),
        (
            {"now": 10**15},
            "an unusable now: expected Unix seconds of at most 15 digits, "
            "got a number of about 16 digits",
        ),
        (
            {"now": 1e300},
            "an unusable now: expected Unix seconds of at most 15 digits, "
            "got a number of about 301 digits",
        ),
        (
            {"tolerance": -(10**5000)},
            "an unusable tolerance: it must not be negative, "
            "got a negative number of about 5,001 digits",
        ),
    ],
)
def test_an_integer_too_long_to_print_is_a_misconfiguration_not_a_value_error(
    body: bytes, secret: str, kwargs: dict[str, object], message: str
) -> None:
    """Python refuses to turn an int of more than 4,300 digits into text (ValueError)."""
    assert rejection(body, signed(body, secret), secret, **kwargs) == (
        f"VerifierMisconfigured: verify_webhook was called with {message}"
    )


def test_a_tolerance_too_long_to_print_accepts_a_delivery_from_any_time(
    body: bytes, secret: str
) -> None:
    headers = signed(body, secret, timestamp=0)
    assert verify_webhook(body, headers, secret, tolerance=10**5000, now=NOW)["runId"] == RUN_ID


def test_the_largest_clock_is_accepted_and_a_delivery_far_from_it_says_how_far(
    body: bytes, secret: str
) -> None:
    assert rejection(body, signed(body, secret), secret, now=10**15 - 1) == (
        "TimestampOutOfTolerance: X-Helios-Timestamp 1705320000 is 999998294679999 s in the "
        "past; the tolerance is 300 s either way (now=999999999999999)"
    )


def test_a_released_memoryview_body_is_a_malformed_body(body: bytes, secret: str) -> None:
    view = memoryview(bytearray(body))
    view.release()
    assert rejection(view, signed(body, secret), secret) == (
        "MalformedBody: the webhook body is malformed: "
        "the memoryview was released before it could be read"
    )


@pytest.mark.parametrize("view", [False, True], ids=["bytearray", "memoryview-of-a-bytearray"])
def test_a_mutable_body_is_verified_and_parsed_as_it_was_when_read_not_as_changed_after(
    body: bytes, secret: str, view: bool
) -> None:
    """The body is copied once: what is verified is what is parsed, whoever holds the buffer."""
    buffer = bytearray(body)

    class HeadersThatChangeTheBody(dict[str, str]):
        def items(self) -> Any:
            buffer[:1] = b"["  # the same length: a memoryview's buffer cannot be resized
            return super().items()

    headers = HeadersThatChangeTheBody(signed(body, secret))
    given = memoryview(buffer) if view else buffer
    assert verify_webhook(given, headers, secret, now=NOW)["runId"] == RUN_ID  # type: ignore[arg-type]
    assert buffer.startswith(b"[")


def test_a_bad_clock_is_reported_before_the_headers_as_the_order_of_checks_says(
    body: bytes,
) -> None:
    assert rejection(body, {}, "whsec_x", now="soon") == (
        "VerifierMisconfigured: verify_webhook was called with an unusable now: "
        "expected int Unix seconds, got str"
    )


def test_an_interrupt_raised_by_a_header_container_is_not_turned_into_a_rejection(
    body: bytes, secret: str
) -> None:
    """Only exceptions (Exception) are turned into rejections; Ctrl-C still stops the program."""

    class Interrupted:
        def items(self) -> Any:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verify_webhook(body, Interrupted(), secret, now=NOW)  # type: ignore[arg-type]


# --- the clock ------------------------------------------------------------------------------


def test_the_default_clock_is_read_at_call_time_not_at_import(
    body: bytes, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock is replaced (monkeypatched) because the test must choose what time it is."""
    import pytest_helios.webhooks.signing as signing

    headers = signed(body, secret, NOW)
    monkeypatch.setattr(signing.time, "time", lambda: NOW + 300.9)
    assert verify_webhook(body, headers, secret)["runId"] == RUN_ID
    monkeypatch.setattr(signing.time, "time", lambda: NOW + 301.0)
    with pytest.raises(TimestampOutOfTolerance, match="is 301 s in the past"):
        verify_webhook(body, headers, secret)


# --- signing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"body": "text"}, TypeError, "body must be bytes (the exact bytes you send), got str"),
        ({"secret": ""}, ValueError, "secret is empty"),
        ({"secret": b"k"}, TypeError, "secret must be a str, got bytes"),
        ({"timestamp": 1.5}, TypeError, "timestamp must be int Unix seconds, got float"),
        ({"timestamp": -1}, ValueError, "timestamp must not be negative, got -1"),
        ({"run_id": "r\n"}, ValueError, "run_id must be printable ASCII, got 'r\\n'"),
    ],
)
def test_sign_webhook_rejects_bad_arguments_by_name(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"body": b"{}", "secret": new_secret(), "timestamp": NOW}
    arguments |= {"run_id": RUN_ID, **kwargs}
    body = arguments.pop("body")
    secret = arguments.pop("secret")
    with pytest.raises(error) as info:
        sign_webhook(body, secret, **arguments)
    assert str(info.value) == f"sign_webhook: {message}"


def test_secrets_are_masked_to_a_prefix_and_four_characters() -> None:
    key = "sk_live_" + secrets.token_hex(16)
    assert mask_secret(key) == f"sk_live_…{key[-4:]}"
    assert mask_secret("whsec_" + "x" * 20 + "9f9f") == "whsec_…9f9f"
    assert mask_secret("short") == "…"
