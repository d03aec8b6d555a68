"""The emulator's own HTTP/1.1 server (h11 on asyncio), spoken to over raw sockets.

It replaced uvicorn and Starlette, whose imports cost the first test that used the emulator
about 80 ms (issue 15); these tests pin what a client sees of it.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from pytest_helios.emulator import HeliosEmulator
from pytest_helios.emulator.loop import LoopThread
from pytest_helios.emulator.server import Server
from tests.raw_http import exchange


def split(reply: bytes) -> tuple[str, dict[str, str], bytes]:
    """The status line, the headers (lower-case names) and the body of one answer."""
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


HEALTH = b"GET /_emulator/health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"


def host_of(emulator: HeliosEmulator) -> bytes:
    return emulator.url.removeprefix("http://").encode()


def test_a_request_that_is_not_http_gets_a_json_400_and_the_connection_closes(
    emulator: HeliosEmulator,
) -> None:
    reply = exchange(emulator.url, b"GARBAGE\r\n\r\n", timeout=2)
    status, headers, body = split(reply)
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body) == {
        "error": "Bad Request",
        "message": "The request is not valid HTTP/1.1",
    }


def test_a_path_that_is_not_ascii_gets_the_same_400(emulator: HeliosEmulator) -> None:
    reply = exchange(emulator.url, b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_an_answer_carries_a_date_and_its_length_and_no_server_header(
    emulator: HeliosEmulator,
) -> None:
    status, headers, body = split(exchange(emulator.url, HEALTH % host_of(emulator)))
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-length"] == str(len(body))
    assert headers["date"].endswith(" GMT")
    assert "server" not in headers
    assert json.loads(body) == {"status": "ok"}


def test_a_client_that_closes_its_side_after_sending_still_gets_every_answer(
    emulator: HeliosEmulator,
) -> None:
    one = HEALTH.replace(b"Connection: close\r\n", b"") % host_of(emulator)
    reply = exchange(emulator.url, one * 3, half_close=True)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", reply) == [b"200", b"200", b"200"]


def test_a_body_cut_short_by_the_client_closing_gets_no_answer_and_no_hang(
    emulator: HeliosEmulator,
) -> None:
    cut = (
        b"POST /_emulator/accounts HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{}" % host_of(emulator)
    )
    assert exchange(emulator.url, cut, half_close=True, timeout=5) == b""


def test_a_head_request_gets_the_headers_and_no_body(emulator: HeliosEmulator) -> None:
    get = split(exchange(emulator.url, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n"
                                       b"Connection: close\r\n\r\n"))  # fmt: skip
    head_reply = exchange(
        emulator.url, b"HEAD /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status, headers, body = split(head_reply)
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-length"] == get[1]["content-length"]
    assert body == b""


def test_pipelined_requests_are_answered_in_order_on_one_connection(
    emulator: HeliosEmulator,
) -> None:
    one = b"GET /_emulator/health HTTP/1.1\r\nHost: %s\r\n\r\n" % host_of(emulator)
    reply = exchange(emulator.url, one * 3 + b"GET /nowhere HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")  # fmt: skip
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", reply) == [b"200", b"200", b"200", b"404"]


def test_an_answer_before_the_body_a_client_was_to_send_on_100_continue_closes_the_connection(
    emulator: HeliosEmulator,
) -> None:
    """The key is checked before the body is read, so the 401 comes without a 100 Continue;
    the client may never send that body, so nothing after it on the connection can be read
    as a request (RFC 9110, 10.1.1): the server says so and closes."""
    reply = exchange(
        emulator.url,
        b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nExpect: 100-continue\r\nx-api-key: sk_live_nope\r\n\r\n",
        timeout=5,
    )
    status, headers, _ = split(reply)
    assert status == "HTTP/1.1 401 Unauthorized"
    assert headers["connection"] == "close"


def test_a_last_request_is_answered_even_if_stray_bytes_follow_it() -> None:
    """``Connection: close`` makes it the client's last request: a stray CRLF arriving while
    the app works on it is not read as a new request, and the answer still goes out."""
    started, release = threading.Event(), threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.001)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]}
        )
        await send({"type": "http.response.body", "body": b"done"})

    loop = LoopThread()
    loop.start()
    server = Server(app, loop)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert started.wait(5)
            sock.sendall(b"\r\n")
            time.sleep(0.05)  # let the stray bytes arrive while the app still works
            release.set()
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
    finally:
        server.stop()
        loop.stop()
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"\r\n\r\ndone")


def test_an_endpoint_that_reads_the_body_sends_100_continue_first(
    emulator: HeliosEmulator,
) -> None:
    account = emulator.create_account("expect")
    key = account.create_key("k").value
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nExpect: 100-continue\r\nx-api-key: " + key.encode() + b"\r\n\r\n"
        )
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_the_emulator_imports_no_web_framework_and_no_yaml() -> None:
    code = (
        "import sys\n"
        "from pytest_helios.emulator import HeliosEmulator\n"
        "with HeliosEmulator() as emulator:\n"
        "    pass\n"
        "print(sorted(m for m in ('starlette', 'uvicorn', 'click', 'yaml') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
