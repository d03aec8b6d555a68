"""Properties of authentication: any presented value but an active key gets exactly a 401.

Requests go over a raw socket so that header values httpx would refuse to build (blank, 10 kB,
non-ASCII bytes) reach the server as written.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios import validate
from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# every byte HTTP allows in a field value: visible ASCII, space, tab and obs-text (0x80-0xFF)
FIELD_BYTES = st.binary().map(
    lambda raw: bytes(b for b in raw if b == 9 or 32 <= b <= 126 or b >= 128)
)


@dataclass(frozen=True)
class Keys:
    active: str
    revoked: str
    foreign: str
    account_path: str


@pytest.fixture(scope="module")
def keys(emulator: HeliosEmulator) -> Iterator[Keys]:
    account = emulator.create_account("property")
    revoked = account.create_key("revoked")
    account.revoke_key(revoked)
    foreign = emulator.create_account("elsewhere").create_key("theirs")
    yield Keys(
        active=account.create_key("active").value,
        revoked=revoked.value,
        foreign=foreign.value,
        account_path=urlsplit(account.base_url).path,
    )


def raw_post(url: str, path: str, api_key: bytes | None, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    head = [
        f"POST {path} HTTP/1.1".encode(),
        f"Host: {parts.netloc}".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        b"Connection: close",
    ]
    if api_key is not None:
        head.append(b"x-api-key: " + api_key)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


BODY = json.dumps(agent_request("light")).encode()


def near_misses(key: str) -> st.SearchStrategy[str]:
    """Keys that differ from ``key`` by one edit (never only by surrounding whitespace)."""
    index = st.integers(0, len(key) - 1)
    char = st.characters(min_codepoint=33, max_codepoint=126)
    return st.one_of(
        st.tuples(index, char).map(lambda p: key[: p[0]] + p[1] + key[p[0] + 1 :]),
        index.map(lambda i: key[:i] + key[i + 1 :]),
        st.tuples(index, char).map(lambda p: key[: p[0]] + p[1] + key[p[0] :]),
        st.just(key.upper()),
        st.just(key[:-1]),
    ).filter(lambda candidate: candidate != key)


def expected_reason(value: bytes | None, keys: Keys) -> str:
    if value is None or not value.strip(b" \t"):
        return "Missing x-api-key header"
    if value == keys.revoked.encode():
        return "API key has been revoked"
    return "Invalid API key"


@given(data=st.data())
@SETTINGS
def test_any_value_but_an_active_key_gets_exactly_a_401_that_does_not_echo_it(
    emulator: HeliosEmulator, keys: Keys, data: st.DataObject
) -> None:
    value: bytes | None = data.draw(
        st.one_of(
            st.none(),
            st.just(b""),
            st.text(alphabet=" \t", max_size=5).map(str.encode),
            FIELD_BYTES,
            st.text(st.characters(min_codepoint=32, exclude_categories=("Cc", "Cs")))
            .map(lambda text: text.encode("utf-8"))
            .map(lambda raw: bytes(b for b in raw if b != 127)),
            st.just(b"sk_live_" + b"x" * 10240),
            near_misses(keys.active).map(str.encode),
            st.just(keys.revoked.encode()),
        ),
        label="x-api-key",
    )
    if value is not None:
        value = value.strip(b" \t")  # HTTP drops whitespace around a field value
    if value == keys.active.encode():
        return
    status, body = raw_post(emulator.url, "/api/v1/agent", value, BODY)
    assert status == 401
    payload = json.loads(body)
    validate("unauthorized-error", payload)
    assert payload == {"error": "Unauthorized", "message": expected_reason(value, keys)}
    if value and len(value) >= 8:
        assert value not in body


@given(path=st.sampled_from(["/api/v1/agent", "/api/v1/lab-results"]))
@SETTINGS
def test_a_key_of_another_account_is_refused_on_this_accounts_url(
    emulator: HeliosEmulator, keys: Keys, path: str
) -> None:
    status, body = raw_post(emulator.url, keys.account_path + path, keys.foreign.encode(), BODY)
    assert status == 401
    assert json.loads(body)["message"] == "API key belongs to a different account"
    assert keys.foreign.encode() not in body


@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
    ),
    scoped=st.booleans(),
)
@SETTINGS
def test_an_active_key_is_never_refused_with_401_whatever_the_body(
    emulator: HeliosEmulator, keys: Keys, body: bytes, scoped: bool
) -> None:
    path = (keys.account_path if scoped else "") + "/api/v1/lab-results"
    status, _ = raw_post(emulator.url, path, keys.active.encode(), body)
    assert status in (200, 400)


def test_a_fresh_random_key_is_invalid(emulator: HeliosEmulator) -> None:
    value = ("sk_live_" + secrets.token_hex(24)).encode()
    status, body = raw_post(emulator.url, "/api/v1/agent", value, BODY)
    assert (status, json.loads(body)["message"]) == (401, "Invalid API key")
