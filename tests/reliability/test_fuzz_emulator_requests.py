"""Fuzzing the emulator's request parsing: hostile requests over real sockets never get a 5xx.

Two layers: HTTP requests that are well formed at the protocol level but hostile in content
(methods, paths, keys, content types, bodies: bad JSON, deep nesting, non-UTF-8, sizes at the
limit), sent with httpx on a keep-alive connection; and raw bytes written straight to a socket
(broken request lines, huge and malformed headers, lying Content-Length). Every answer must be
below 500 and, for the API and admin routes, a JSON error body; the server must stay up.

Then volume: HELIOS_FUZZ_REQUESTS hostile requests and byte streams (100,000 at full scale, 20
per fuzzed example otherwise) from six clients at once, seeded for replay, while a heartbeat on
the emulator's event loop measures the longest time anything held it (at most 1 s), with no
answer over 499 and no exchange left unanswered for 10 s; afterwards the process has no more
threads or file descriptors than before.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios import strategies as helios_st
from pytest_helios.emulator import HeliosEmulator
from tests.raw_http import exchange
from tests.samples import LAB, agent_request, lab_request

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

FUZZ = settings(
    max_examples=scale().fuzz_examples,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def target() -> Iterator[dict[str, Any]]:
    """An emulator with a small body limit, one account, a valid and a revoked key."""
    with HeliosEmulator(max_body_bytes=MAX_BODY, delivery_attempts=1) as emu:
        account = emu.create_account("fuzz")
        key = account.create_key("valid").value
        revoked = account.create_key("revoked")
        account.revoke_key(revoked)
        with httpx.Client(base_url=emu.url, timeout=30) as client:
            yield {
                "emu": emu,
                "client": client,
                # a blank key is sent by the raw tests: httpx refuses to send one
                "keys": [key, revoked.value, "sk_live_" + "0" * 32, "", "x" * 2000],
                "account": account.id,
            }
        emu.wait_for_deliveries(timeout=60)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
valid_requests = st.one_of(
    helios_st.agent_requests(), helios_st.lab_results_requests(max_labs=5)
).map(lambda r: {**r, "webhookUrl": "http://127.0.0.1:9/hook"})


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A valid request with one field replaced, removed or added, encoded as JSON."""
    request = dict(draw(valid_requests))
    key = draw(st.sampled_from([*request, "extra"]))
    action = draw(st.sampled_from(["replace", "remove"]))
    if action == "remove":
        request.pop(key, None)
    else:
        request[key] = draw(json_bodies)
    return json.dumps(request).encode()


bodies = st.one_of(
    valid_requests.map(lambda r: json.dumps(r).encode()),
    mutated_requests(),
    json_bodies.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.integers(min_value=60, max_value=5000).map(nested),
    st.integers(min_value=60, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from(
        [
            b"",
            b"{",
            b"NaN",
            b'{"webhookUrl": NaN}',
            b'{"a": Infinity}',
            b"\xff\xfe{\x00}\x00",
            b'{"webhookUrl": "\xc3\x28"}',
            b'{"\\ud800": 1}',
            b"x" * (MAX_BODY + 1),
            b" " * MAX_BODY + b"{}",
            b"1e999999",
            b"-" * 10,
        ]
    ),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json;;;",
            "",
        ]
    ),
    # httpx refuses to send a value with whitespace around it; the raw tests send such values
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
        str.strip
    ),
)
paths = st.one_of(
    st.sampled_from(
        [
            "/api/v1/agent",
            "/api/v1/lab-results",
            "/api/v1/agent/",
            "/API/V1/AGENT",
            "/api/v1/agent?x=1&x=2",
            "/api/v1/%2e%2e/agent",
            "/_emulator/health",
            "/_emulator/accounts",
            "/_emulator/accounts/nope/keys",
            "/_emulator/wait",
            "/_emulator/runs/not-a-uuid",
            "/_emulator/deliveries?runId=%00",
            "/accounts/nope/api/v1/agent",
            "/",
        ]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz/_-.%0123456789?&=", max_size=40).map(
        lambda p: "/" + p
    ),
)


def check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400 and response.request.method != "HEAD":
        body = response.json()
        assert isinstance(body, dict) and body.get("error"), body


@FUZZ
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]),
    path=paths,
    key_index=st.integers(min_value=0, max_value=5),
    content_type=content_types,
    body=bodies,
    scoped=st.booleans(),
)
def test_hostile_requests_get_a_4xx_json_error_never_a_5xx(
    target: dict[str, Any],
    method: str,
    path: str,
    key_index: int,
    content_type: str,
    body: bytes,
    scoped: bool,
) -> None:
    headers = {"content-type": content_type}
    if key_index < len(target["keys"]):
        headers["x-api-key"] = target["keys"][key_index]
    if scoped and path.startswith("/api/"):
        path = f"/accounts/{target['account']}{path}"
    response = target["client"].request(method, path, headers=headers, content=body)
    TALLY["fuzzing", "HTTP requests to the emulator (hostile content)"] += 1
    TALLY["emulator answers", f"{response.status_code // 100}xx to fuzzed requests"] += 1
    check_answer(response)


RAW_REQUESTS = [
    b"\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"POST /api/v1/agent HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST /api/v1/agent\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 2\r\n\r\n0\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nx-api-key: \xff\xfe\x00\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nx-api-key: sk_live_\xc3\xa9\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: \xff\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    + b"\r\n",
    b"POST /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 999999999\r\n\r\n{}",
    b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{}",  # the client stops sending: the server must not hang
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS ClientHello
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n" * 50,  # pipelined
]


RAW_LINES = [
    b"POST /api/v1/agent HTTP/1.1",
    b"Host: x",
    b"Content-Length: 2",
    b"Transfer-Encoding: chunked",
    b"x-api-key: ",
    b"x-api-key: \t ",
    b"Content-Type: application/json",
    b"",
    b"{}",
    b"0",
    b"\x00",
    b"\xff",
]


def statuses(reply: bytes) -> list[int]:
    """Every HTTP status line in a reply (a pipelined exchange has several)."""
    found = []
    for line in reply.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12 and line[9:12].isdigit():
            found.append(int(line[9:12]))
    return found


def assert_alive(client: httpx.Client) -> None:
    assert client.get("/_emulator/health").json() == {"status": "ok"}


@pytest.mark.parametrize("data", RAW_REQUESTS, ids=range(len(RAW_REQUESTS)))
def test_raw_hostile_http_gets_no_5xx_and_the_emulator_stays_up(
    target: dict[str, Any], data: bytes
) -> None:
    reply = exchange(target["emu"].url, data, half_close=True)
    TALLY["fuzzing", "raw hostile HTTP exchanges"] += 1
    assert all(status < 500 for status in statuses(reply)), reply[:300]
    assert_alive(target["client"])


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.one_of(
                st.sampled_from(RAW_LINES),
                st.binary(max_size=40),
            ),
            max_size=10,
        ).map(lambda parts: b"\r\n".join(parts) + b"\r\n\r\n"),
    )
)
def test_random_bytes_on_the_socket_never_get_a_5xx(target: dict[str, Any], data: bytes) -> None:
    reply = exchange(target["emu"].url, data, half_close=True)
    TALLY["fuzzing", "raw random byte streams"] += 1
    assert all(status < 500 for status in statuses(reply)), reply[:300]


def test_the_emulator_still_serves_after_the_fuzzing(target: dict[str, Any]) -> None:
    assert_alive(target["client"])
    key = target["keys"][0]
    response = target["client"].post(
        "/api/v1/lab-results", headers={"x-api-key": key}, json=lab_request()
    )
    assert response.status_code == 200, response.text


# --- volume: 100,000 hostile requests and byte streams, the loop watched all along ---------------

#: Hostile requests and raw byte streams of the volume test: HELIOS_FUZZ_REQUESTS, else 100,000
#: at full scale and 20 per fuzzed example otherwise (2,000 in CI).
FUZZ_REQUESTS = int(
    os.environ.get("HELIOS_FUZZ_REQUESTS")
    or (100_000 if scale().name == "full" else 20 * scale().fuzz_examples)
)
VOLUME_CLIENTS = 6
#: Seconds an exchange may take before it counts as a hang.
HANG = 10.0


class Heartbeat:
    """A task on the emulator's own event loop that wakes every 10 ms and keeps the longest
    gap between two wake-ups: how long anything held the loop."""

    def __init__(self, emu: HeliosEmulator) -> None:
        self.longest = 0.0
        self._running = True
        self._future = emu.core.loop.submit(self._beat())

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while self._running:
            await asyncio.sleep(0.01)
            now = loop.time()
            self.longest = max(self.longest, now - last - 0.01)
            last = now

    def stop(self) -> float:
        self._running = False
        self._future.result(timeout=10)
        return self.longest


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 2**70, 1e308, -0.0, ""])
    if kind == 2:
        return rng.randrange(-(10**6), 10**6)
    if kind == 3:
        return "".join(
            rng.choice('ab \u00e9\u2603\U0001f4a9\\"\n') for _ in range(rng.randrange(12))
        )
    if kind == 4:
        return rng.random() * 10 ** rng.randrange(-5, 20)
    if kind in (5, 6):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {str(random_json(rng, 4)): random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


HOSTILE_BODIES = [
    b"",
    b"{",
    b"NaN",
    b'{"webhookUrl": NaN}',
    b"\xff\xfe{\x00}\x00",
    b'{"\\ud800": 1}',
    b"x" * (MAX_BODY + 1),
    b"1e999999",
    nested(100),
    b"[" * 3000 + b"]" * 3000,
]
WEBHOOK_URLS = [
    "http://127.0.0.1:9/hook",
    "https://xn--/",
    "https://example.org/hook",
    "https://hooks.example.test/h",
    "http://localhost:{port}/_emulator/forget",
    "ftp://127.0.0.1/x",
    "http://[::1/x",
    "",
]


def random_body(rng: random.Random, port: int) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(HOSTILE_BODIES)
    if kind == 1:
        return rng.randbytes(rng.randrange(300))
    if kind == 2:
        return json.dumps(random_json(rng)).encode()
    request: dict[str, Any] = (
        agent_request(rng.choice(["light", "deep", "medium"]))
        if rng.random() < 0.5
        else lab_request()
    )
    request["webhookUrl"] = rng.choice(WEBHOOK_URLS).format(port=port)
    if kind == 3:
        key = rng.choice([*request, "extra"])
        request[key] = random_json(rng)
    elif kind == 4:
        request.pop(rng.choice(list(request)), None)
    elif "labResults" in request:  # many labs, some wrong: the windowed check
        request["labResults"] = [
            dict(LAB) if rng.random() < 0.9 else random_json(rng) for _ in range(300)
        ]
    return json.dumps(request).encode()


@dataclass
class VolumeResult:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def volume_client(
    seed: int, emu: HeliosEmulator, keys: list[str], count: int, out: VolumeResult
) -> None:
    rng = random.Random(seed)
    port = int(emu.url.rsplit(":", 1)[1])
    methods = ["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    static_paths = [p for p in paths_sample() if "?" not in p or rng.random() < 0.5]
    with httpx.Client(base_url=emu.url, timeout=HANG) as client:
        for _ in range(count):
            if rng.random() < 0.2:
                kind, data = (
                    "raw",
                    (
                        rng.choice(RAW_REQUESTS)
                        if rng.random() < 0.3
                        else b"\r\n".join(
                            rng.choice(RAW_LINES) if rng.random() < 0.7 else rng.randbytes(20)
                            for _ in range(rng.randrange(10))
                        )
                        + b"\r\n\r\n"
                    ),
                )
                try:
                    reply = raw_or_hang(emu.url, data)
                except TimeoutError:
                    with out.lock:
                        out.problems.append(f"hang: raw {data[:80]!r}")
                    continue
                found = statuses(reply)
            else:
                kind = "http"
                headers = {"content-type": rng.choice(CONTENT_TYPES)}
                key = rng.choice(keys)
                if key:
                    headers["x-api-key"] = key
                if rng.random() < 0.1:
                    headers["host"] = rng.choice(["attacker.example", f"localhost:{port}", "x"])
                path = rng.choice(static_paths)
                if rng.random() < 0.3 and path.startswith("/api/"):
                    path = f"/accounts/{rng.choice(['nope', keys_account(emu)])}{path}"
                method = rng.choice(methods)
                body = random_body(rng, port)
                try:
                    response = client.request(method, path, headers=headers, content=body)
                except httpx.TimeoutException:
                    with out.lock:
                        out.problems.append(f"hang: {method} {path}")
                    continue
                except httpx.TransportError as exc:  # refused as the protocol says: no answer
                    with out.lock:
                        out.sent["http, closed without an answer"] += 1
                        if "Server disconnected" not in str(exc):
                            out.problems.append(f"{method} {path}: {type(exc).__name__} {exc}")
                    continue
                found = [response.status_code]
                if response.status_code >= 400 and method != "HEAD":
                    try:
                        body_ok = bool(response.json().get("error"))
                    except ValueError:
                        body_ok = False
                    if not body_ok:
                        with out.lock:
                            out.problems.append(f"{method} {path}: not a JSON error")
            with out.lock:
                out.sent[kind] += 1
                for status in found:
                    out.statuses[status] += 1
                    if status >= 500:
                        out.problems.append(f"{status} to a {kind} exchange")


def keys_account(emu: HeliosEmulator) -> str:
    return emu.accounts[0].id


def paths_sample() -> list[str]:
    return [
        "/api/v1/agent",
        "/api/v1/lab-results",
        "/api/v1/agent/",
        "/API/V1/AGENT",
        "/api/v1/%2e%2e/agent",
        "/_emulator/health",
        "/_emulator/accounts",
        "/_emulator/accounts/nope/keys",
        "/_emulator/accounts/nope/states",
        "/_emulator/wait",
        "/_emulator/forget",
        "/_emulator/runs",
        "/_emulator/deliveries?runId=%00",
        "/accounts/nope/api/v1/agent",
        "/",
        "/%ff",
    ]


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
]


def raw_or_hang(url: str, data: bytes) -> bytes:
    """``raw_exchange``, but an exchange that does not end within :data:`HANG` seconds raises
    ``TimeoutError`` (a hang) instead of counting as an answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=HANG) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def open_descriptors() -> int:
    return len(os.listdir("/dev/fd"))


def test_hostile_exchanges_by_the_thousand_get_no_5xx_never_hang_nor_hold_the_loop() -> None:
    """Each of several clients sends its share of hostile requests and raw byte streams while
    a heartbeat on the emulator's loop measures how long anything holds it; afterwards the
    process has the threads and file descriptors it had before."""
    threads_before = {t.name for t in threading.enumerate()}
    fds_before = open_descriptors()
    out = VolumeResult()
    with HeliosEmulator(max_body_bytes=MAX_BODY, delivery_attempts=1) as emu:
        account = emu.create_account("volume")
        revoked = account.create_key("revoked")
        account.revoke_key(revoked)
        keys = [account.create_key("valid").value, revoked.value, "sk_live_" + "0" * 48, ""]
        heartbeat = Heartbeat(emu)
        share = -(-FUZZ_REQUESTS // VOLUME_CLIENTS)  # at least FUZZ_REQUESTS in all
        clients = [
            threading.Thread(target=volume_client, args=(n, emu, keys, share, out))
            for n in range(VOLUME_CLIENTS)
        ]
        for client in clients:
            client.start()
        while any(c.is_alive() for c in clients):  # a long-lived emulator forgets what settled
            clients[0].join(timeout=2)
            emu.forget_settled_runs()
        for client in clients:
            client.join()
        longest_stall = heartbeat.stop()
        with httpx.Client(base_url=emu.url, timeout=HANG) as client:
            assert_alive(client)
        emu.wait_for_deliveries(timeout=120)
    for _ in range(100):  # threads and sockets wind down: bounded, stops by itself
        if (
            open_descriptors() <= fds_before
            and {t.name for t in threading.enumerate()} <= threads_before
        ):
            break
        time.sleep(0.1)
    exchanges = sum(out.sent.values())
    TALLY["fuzzing", "hostile HTTP requests and raw byte streams, 6 clients at once"] += exchanges
    TALLY["fuzzing", "exchanges that hung (no answer within 10 s)"] += sum(
        p.startswith("hang") for p in out.problems
    )
    TALLY["fuzzing", "5xx answers to hostile exchanges"] += sum(
        c for s, c in out.statuses.items() if s >= 500
    )
    TALLY["fuzzing", "longest hold of the emulator's event loop (ms)"] += round(
        longest_stall * 1000
    )
    assert exchanges == share * VOLUME_CLIENTS
    assert not out.problems, "\n".join(out.problems[:30])
    assert longest_stall < 1.0
    assert open_descriptors() <= fds_before
    assert {t.name for t in threading.enumerate()} <= threads_before
