"""No client takes the emulator over: headers and bodies have deadlines, connections a cap that
makes room for a client sending a whole request, and running out of file descriptors costs a
few log lines, not a flood."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.script_process import script_process

from .conftest import plain_client

PARTIAL = b"POST /api/v1/agent HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_trickling_its_headers_is_answered_408_and_disconnected() -> None:
    with HeliosEmulator(header_timeout=2) as emu, closing(connect(emu.url)) as sock:
        sock.sendall(PARTIAL)
        for line in (b"X-One: 1\r\n", b"X-Two: 2\r\n", b"X-Three: 3\r\n"):
            time.sleep(0.05)
            sock.sendall(line)
        reply = read_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout"
    assert json.loads(body) == {
        "error": "Request Timeout",
        "message": "The request headers did not arrive within 2 s",
    }


def test_a_body_that_does_not_arrive_in_time_is_answered_408() -> None:
    with HeliosEmulator(body_timeout=0.5) as emu:
        key = emu.create_account("slow body").create_key("ci").value
        with closing(connect(emu.url)) as sock:
            sock.sendall(
                b"POST /api/v1/agent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                b"x-api-key: " + key.encode() + b'\r\n\r\n{"webhookUrl"'
            )
            reply = read_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout"
    assert json.loads(body) == {
        "error": "Request Timeout",
        "message": "The request body did not arrive within 0.5 s",
    }


def closed(sock: socket.socket) -> bool:
    """The server closed it: an end of file, or a reset (it closed with our bytes unread)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_at_the_connection_cap_a_whole_request_takes_the_place_of_the_oldest_idle_one() -> None:
    with HeliosEmulator(max_connections=4, header_timeout=60) as emu:
        idle = [connect(emu.url) for _ in range(4)]
        try:
            for sock in idle:
                sock.sendall(PARTIAL)
            with plain_client(base_url=emu.url, timeout=10) as client:
                assert client.get("/_emulator/health").json() == {"status": "ok"}
            assert closed(idle[0])  # the oldest, closed to make room
            for sock in idle[1:]:
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):  # still open, still waiting
                    sock.recv(1)
        finally:
            for sock in idle:
                sock.close()


SERVE_WITH_FEW_DESCRIPTORS = """
import json, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
from pytest_helios.emulator import HeliosEmulator
with HeliosEmulator() as emu:
    print(json.dumps({"url": emu.url}), flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def emulator_with_128_descriptors(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``helios-emulator`` as a process limited to 128 file descriptors (as a small ``ulimit``
    would), its standard error in a file."""
    stderr = tmp_path / "stderr.txt"
    with script_process(SERVE_WITH_FEW_DESCRIPTORS, stderr, stop_within=30) as facts:
        yield facts["url"], stderr


def test_300_trickling_connections_neither_lock_out_a_client_nor_flood_the_log(
    emulator_with_128_descriptors: tuple[str, Path],
) -> None:
    url, stderr = emulator_with_128_descriptors
    slow = []
    try:
        for _ in range(300):
            sock = connect(url)
            slow.append(sock)
            sock.sendall(PARTIAL)
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/_emulator/health").json() == {"status": "ok"}
    finally:
        for sock in slow:
            sock.close()
    logged = stderr.read_text(errors="replace").splitlines()
    assert len(logged) < 20, "\n".join(logged[:40])


def test_stopping_the_emulator_closes_a_connection_that_never_sent_a_byte() -> None:
    with HeliosEmulator() as emu:
        sock = connect(emu.url)
        with plain_client(base_url=emu.url, timeout=10) as client:  # accepted by now
            assert client.get("/_emulator/health").status_code == 200
    with closing(sock):
        assert sock.recv(1) == b""
