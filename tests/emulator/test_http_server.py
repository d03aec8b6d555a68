"""The emulator's own HTTP/1.1 server (h11 on asyncio), spoken to over raw sockets.

It replaced uvicorn and Starlette, whose imports cost the first test that used the emulator
about 80 ms (issue 15); these tests pin what a client sees of it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

from pytest_helios.emulator import HeliosEmulator
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


def test_a_client_that_expects_100_continue_is_told_to_send_its_body(
    emulator: HeliosEmulator,
) -> None:
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nExpect: 100-continue\r\nx-api-key: sk_live_nope\r\n\r\n"
        )
        first = sock.recv(65536)
        # the key is checked before the body is read: a refusal needs no body at all
        assert first.startswith((b"HTTP/1.1 100 Continue\r\n", b"HTTP/1.1 401 "))


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
