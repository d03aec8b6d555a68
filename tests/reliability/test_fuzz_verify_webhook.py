"""Fuzzing verify_webhook: on any input whatsoever it returns the payload or raises a
WebhookVerificationError subclass, and a delivery that verifies is exactly one that was signed.

Five properties, each run for HELIOS_FUZZ_EXAMPLES examples (see conftest.py):

- arbitrary arguments: bodies, header containers, secrets, tolerances and clocks of any type;
- huge integers (past Python's 4,300-digit limit for printing), released buffers, subclasses
  whose every method raises, objects whose class and type name raise, header containers and
  secrets that fail, recurse or never end: the message never holds the secret;
- a signed delivery in every header container of tests/webhooks/header_containers.py (the
  stdlib's, Flask's, Django's, FastAPI's, aiohttp's, requests', httpx's, pairs, ASGI lists),
  with extra headers and any case of the names: accepted (or out of tolerance) when genuine,
  checked with a rotation list too, a SignatureMismatch when tampered, a MalformedHeader when
  the signature header is repeated; about a hundred calls per example;
- well-formed forged signatures, never accepted;
- signed deliveries and one-byte tamperings.

Every call of verify_webhook or verify_webhook_signature counts once in the tally.
"""

from __future__ import annotations

import itertools
import json
import secrets as stdlib_secrets
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios.exceptions import (
    MalformedBody,
    WebhookVerificationError,
)
from pytest_helios.masking import MaskedSecret
from pytest_helios.webhooks.signing import (
    compute_signature,
    sign_webhook,
    verify_webhook,
    verify_webhook_signature,
)
from tests.webhooks.header_containers import CONTAINERS, Container, Wire
from tests.webhooks.hostile import (
    ItemsFailingMidway,
    ItemsRecursing,
    MappingMissingItsKeys,
    Unreadable,
    containing_itself,
    hostile,
)

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

NOW = 1_705_320_000
TOLERANCE = 300
FUZZ = settings(
    max_examples=scale().fuzz_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEADER_NAMES = ("X-Helios-Signature", "X-Helios-Timestamp", "X-Helios-Run-ID", "Content-Type")
CALLS = "fuzzing", "verify_webhook and verify_webhook_signature calls (only documented errors)"
VERIFIERS = (verify_webhook, verify_webhook_signature)


def _case_variants(name: str) -> st.SearchStrategy[str]:
    def apply(flips: list[bool]) -> str:
        return "".join(c.upper() if f else c.lower() for c, f in zip(name, flips, strict=True))

    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(apply)


def _built(pairs: list[tuple[str, str]], container: Container) -> object:
    return container.build(Wire.from_pairs(pairs))


HostileStr, HostileBytes, HostileBytearray = hostile(str), hostile(bytes), hostile(bytearray)
HostileInt, HostileFloat = hostile(int), hostile(float)


class Made:
    """A hostile object, made when the test runs. Hypothesis shows this description in a
    failure report: it cannot show the object itself (its repr and attributes raise)."""

    def __init__(self, make: Callable[..., Any], *args: Any) -> None:
        self.make = make
        self.args = args

    def __repr__(self) -> str:
        return f"{self.make.__name__}{self.args!r}".replace(",)", ")")


def made(make: Callable[..., Any]) -> Callable[..., Made]:
    return lambda *args: Made(make, *args)


def materialize(value: Any) -> Any:
    """``value`` with each `Made` in it (in lists, tuples and dict values) made."""
    if type(value) is Made:
        return value.make(*value.args)
    if type(value) in (list, tuple):
        return type(value)(materialize(item) for item in value)
    if type(value) is dict:
        return {key: materialize(item) for key, item in value.items()}
    return value


def _released(data: bytes) -> memoryview:
    view = memoryview(bytearray(data))
    view.release()
    return view


# --- arbitrary and hostile arguments -----------------------------------------------------------

header_names = st.one_of(
    st.sampled_from(HEADER_NAMES).flatmap(_case_variants),
    st.text(max_size=30),
    st.sampled_from(HEADER_NAMES).map(lambda n: f" {n}\t"),
    st.sampled_from(HEADER_NAMES).map(lambda n: "HTTP_" + n.upper().replace("-", "_")),
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
    hostile_text.map(made(HostileStr)),
    st.binary(max_size=80),
    st.none(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=5), max_size=3),
    st.builds(made(Unreadable)),
)
header_pairs = st.lists(st.tuples(header_names, header_values), max_size=8)
# names and values every container can be built from: HTTP tokens, printable ASCII
token_names = st.one_of(
    st.sampled_from(HEADER_NAMES).flatmap(_case_variants),
    st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~",
        min_size=1,
        max_size=20,
    ),
)
printable_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
buildable_pairs = st.lists(st.tuples(token_names, printable_values), max_size=8)
hostile_containers: st.SearchStrategy[Any] = st.one_of(
    st.builds(ItemsRecursing),
    st.builds(MappingMissingItsKeys),
    st.builds(made(containing_itself)),
    st.builds(made(Unreadable)),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5)).map(ItemsFailingMidway),
    header_pairs.map(lambda ps: itertools.chain(ps, itertools.repeat(("X-Other", "v")))),
    header_pairs.map(lambda ps: [(Made(HostileStr, str(n)), v) for n, v in ps]),
)
headers_any: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(header_names, header_values, max_size=8),
    header_pairs,
    header_pairs.map(lambda ps: [(str(n).encode("utf-8", "surrogatepass"), v) for n, v in ps]),
    st.builds(_built, buildable_pairs, st.sampled_from(CONTAINERS)),
    hostile_containers,
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
strict_json_values = st.recursive(  # what json.dumps writes as strict JSON: no NaN, Infinity
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
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
    st.binary(max_size=50).map(_released),
    st.binary(max_size=50).map(made(HostileBytes)),
    st.binary(max_size=50).map(made(HostileBytearray)),
    st.text(max_size=50).map(made(HostileStr)),
    st.builds(made(Unreadable)),
)
secret_values: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=40),
    st.text(min_size=1, max_size=40).map(MaskedSecret),
    st.text(max_size=40).map(made(HostileStr)),
    st.lists(st.text(max_size=20), max_size=4),
    st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), max_size=4),
    st.tuples(st.text(max_size=10), st.integers()),
    st.binary(max_size=20),
    st.binary(max_size=20).map(made(HostileBytes)),
    st.text(max_size=20).map(itertools.repeat),
    st.builds(made(containing_itself)),
    st.builds(made(Unreadable)),
    st.none(),
    st.integers(),
    st.just(["whsec_a", None]),
)
huge_ints = st.one_of(
    st.integers(min_value=4000, max_value=20_000).map(lambda digits: 10**digits),
    st.integers(min_value=4000, max_value=20_000).map(lambda digits: -(10**digits)),
    st.sampled_from([10**15 - 1, 10**15, -(10**15) + 1, -(10**15), 2**63, -(2**63), 2**64]),
)
numbers: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20).map(made(HostileInt)),
    st.floats().map(made(HostileFloat)),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.builds(made(Unreadable)),
)


def _call(verify: Any, *args: Any, **kwargs: Any) -> WebhookVerificationError | None:
    """None if ``verify`` accepts; the error if it rejects; anything else fails the test."""
    TALLY[CALLS] += 1
    try:
        result = verify(*args, **kwargs)
    except WebhookVerificationError as error:
        assert str(error)  # every rejection says why
        return error
    assert isinstance(result, dict if verify is verify_webhook else bytes)
    return None


def _verdict(verify: Any, *args: Any, **kwargs: Any) -> str:
    """'accepted', or the name of the WebhookVerificationError subclass raised."""
    error = _call(verify, *args, **kwargs)
    return "accepted" if error is None else type(error).__name__


@FUZZ
@given(body=bodies, headers=headers_any, secret=secret_values, tolerance=numbers, now=numbers)
def test_verify_webhook_only_ever_returns_a_payload_or_raises_a_verification_error(
    body: Any, headers: Any, secret: Any, tolerance: Any, now: Any
) -> None:
    for verify in VERIFIERS:
        arguments = materialize([body, headers, secret, tolerance, now])
        _call(verify, *arguments[:3], tolerance=arguments[3], now=arguments[4])


SECRET = "whsec_" + "f1e2d3c4b5a6" * 4  # distinctive: no message may contain it

# ways of passing the signing secret, each made anew for every call (an iterator is used up)
secret_makers: st.SearchStrategy[Any] = st.sampled_from(
    [
        lambda: SECRET,
        lambda: MaskedSecret(SECRET),
        lambda: HostileStr(SECRET),
        lambda: SECRET.encode(),
        lambda: HostileBytes(SECRET.encode()),
        lambda: bytearray(SECRET.encode()),
        lambda: ["whsec_previous", SECRET],
        lambda: (HostileStr(SECRET),),
        lambda: [SECRET, Unreadable()],
        lambda: iter([SECRET]),
    ]
)


@FUZZ
@given(
    body=bodies,
    headers=st.one_of(st.none(), headers_any),  # None: the genuine headers
    container=st.sampled_from([*CONTAINERS, None]),
    make_secret=secret_makers,
    tolerance=numbers,
    now=numbers,
)
def test_huge_integers_released_buffers_and_hostile_objects_never_escape_or_show_the_secret(
    body: Any, headers: Any, container: Container | None, make_secret: Any, tolerance: Any, now: Any
) -> None:
    if headers is None:
        signed = body if type(body) is bytes else b"{}"
        pairs = list(sign_webhook(signed, SECRET, timestamp=NOW, run_id="run").items())
        headers = pairs if container is None else container.build(Wire.from_pairs(pairs))
    for verify in VERIFIERS:
        made_body, made_headers, made_tolerance, made_now = materialize(
            [body, headers, tolerance, now]
        )
        error = _call(
            verify, made_body, made_headers, make_secret(), tolerance=made_tolerance, now=made_now
        )
        if error is not None:
            assert SECRET not in str(error)
            assert SECRET not in repr(error)


# --- signed deliveries in every header container --------------------------------------------

extra_names = token_names.filter(
    lambda n: not n.lower().replace("_", "-").endswith(("x-helios-signature", "x-helios-timestamp"))
)


@FUZZ
@given(
    payload=st.dictionaries(st.text(max_size=8), strict_json_values, max_size=5),
    skew=st.integers(min_value=-2 * TOLERANCE, max_value=2 * TOLERANCE),
    signature_name=_case_variants("X-Helios-Signature"),
    timestamp_name=_case_variants("X-Helios-Timestamp"),
    extras=st.lists(st.tuples(extra_names, printable_values), max_size=6),
    order=st.randoms(use_true_random=False),
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_a_signed_delivery_verifies_in_every_header_container_and_a_changed_one_never_does(
    payload: dict[str, Any],
    skew: int,
    signature_name: str,
    timestamp_name: str,
    extras: list[tuple[str, str]],
    order: Any,
    position: int,
    flip: int,
) -> None:
    body = json.dumps(payload).encode()
    signature = compute_signature(body, SECRET)
    pairs = [(signature_name, signature), (timestamp_name, str(NOW)), *extras]
    order.shuffle(pairs)
    wire = Wire.from_pairs(pairs)
    repeated = Wire.from_pairs([*pairs, (signature_name.lower(), signature)])
    tampered = bytearray(body)
    tampered[position % len(body)] ^= flip
    now = NOW + skew
    in_time = abs(skew) <= TOLERANCE
    genuine = "accepted" if in_time else "TimestampOutOfTolerance"
    changed = "SignatureMismatch" if in_time else "TimestampOutOfTolerance"
    for container in CONTAINERS:
        headers = container.build(wire)
        for verify in VERIFIERS:
            assert _verdict(verify, body, headers, SECRET, now=now) == genuine
            assert _verdict(verify, bytes(tampered), headers, SECRET, now=now) == changed
        rotation = ["whsec_previous", SECRET]
        assert _verdict(verify_webhook, body, headers, rotation, now=now) == genuine
        if container.keeps_repeats:
            for verify in VERIFIERS:
                assert _verdict(verify, body, container.build(repeated), SECRET, now=now) == (
                    "MalformedHeader"
                )


# --- forgeries and tamperings --------------------------------------------------------------------


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
    body, headers = materialize([body, headers])
    assert _verdict(verify_webhook, body, headers, secret, now=NOW) != "accepted"


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
    error = _call(verify_webhook, body, headers, [secret, "whsec_other"], now=NOW)
    if error is None:
        assert verify_webhook(body, headers, secret, now=NOW) == json.loads(body)
    else:
        assert isinstance(error, MalformedBody)
        try:  # strict JSON, as documented: NaN and Infinity are not JSON values
            parsed = json.loads(body, parse_constant=_refuse)
        except ValueError:
            parsed = None
        assert not isinstance(parsed, dict)
    if body:
        tampered = bytearray(body)
        tampered[position % len(body)] ^= flip
        assert _verdict(verify_webhook, bytes(tampered), headers, secret, now=NOW) == (
            "SignatureMismatch"
        )
    assert headers["X-Helios-Signature"] == compute_signature(body, secret)
