"""The emulator's own client for webhooks to ``http://`` receivers at an IP address.

It replaced httpx's async client on that path (issue 15: about half the CPU of a round trip);
these tests hold it to what the deliverer records of an attempt, against scripted receivers on
raw sockets.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from pytest_helios.emulator.plain_http import (
    MAX_ANSWER_BYTES,
    DeliveryRefused,
    PlainHttpClient,
    plain_target,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

Reply = Callable[[socket.socket, int], bool]  # answer request n; False: close the connection


class Scripted:
    """A loopback server that reads whole requests and answers each by ``reply``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks?x=1"
        self._threads: list[threading.Thread] = []
        self.stopped = threading.Event()

    def serve(self) -> None:
        self.sock.settimeout(0.05)  # to see ``stopped`` soon
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            self.connections += 1
            thread = threading.Thread(target=self._talk, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                if not self.reply(conn, len(self.requests)):
                    return


@contextmanager
def scripted(reply: Reply) -> Iterator[Scripted]:
    server = Scripted(reply)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopped.set()
        thread.join(5)
        server.sock.close()


def allow(host: str, address: str | None, port: int) -> str | None:
    return None


def post_all(client: PlainHttpClient, url: str, count: int) -> list[int]:
    async def run() -> list[int]:
        try:
            return [
                (
                    await client.post(url, content=b'{"n":%d}' % i, headers={"X-N": str(i)})
                ).status_code
                for i in range(count)
            ]
        finally:
            await client.aclose()

    return asyncio.run(run())


def keep_open(conn: socket.socket, n: int) -> bool:
    conn.sendall(OK)
    return True


def test_a_run_of_webhooks_goes_over_one_kept_alive_connection() -> None:
    with scripted(keep_open) as server:
        assert post_all(PlainHttpClient(allow, 5, 8), server.url, 8) == [200] * 8
    assert server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /hooks?x=1 HTTP/1.1\r\n")
    assert f"host: {server.url.split('/')[2]}\r\n" in first
    assert "content-length: 7\r\n" in first and first.endswith('{"n":0}')
    assert "X-N: 0" in first


async def until(condition: Callable[[], bool]) -> None:
    """Wait (on the loop) until ``condition`` holds; fail after 5 s."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(wait(), 5)


def test_a_connection_the_receiver_closed_while_idle_is_not_used_again() -> None:
    def answer_then_close(conn: socket.socket, n: int) -> bool:
        conn.sendall(OK)  # no "Connection: close": the client sees the connection close
        return False

    async def run(client: PlainHttpClient, url: str) -> list[int]:
        first = await client.post(url, content=b"1", headers={})
        await until(lambda: all(c.wire.lost for c in client._idle))
        second = await client.post(url, content=b"2", headers={})
        await client.aclose()
        return [first.status_code, second.status_code]

    with scripted(answer_then_close) as server:
        assert asyncio.run(run(PlainHttpClient(allow, 5, 8), server.url)) == [200, 200]
    assert server.connections == 2
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests] == [b"1", b"2"]


def test_a_request_that_fails_once_written_is_never_sent_again() -> None:
    def read_the_second_then_close(conn: socket.socket, n: int) -> bool:
        if n == 1:
            conn.sendall(OK)
            return True
        return False  # the second request was read, and is never answered

    with (
        scripted(read_the_second_then_close) as server,
        pytest.raises(httpx.RemoteProtocolError, match="without sending a response"),
    ):
        post_all(PlainHttpClient(allow, 5, 8), server.url, 2)
    assert len(server.requests) == 2  # the deliverer, not the client, makes the next attempt


def test_an_idle_connection_on_which_the_receiver_spoke_is_not_used_again() -> None:
    def answer_then_time_out(conn: socket.socket, n: int) -> bool:
        conn.sendall(OK + b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        return True

    async def run(client: PlainHttpClient, url: str) -> list[int]:
        answers = [(await client.post(url, content=b"1", headers={})).status_code]
        await until(lambda: all(c.wire.chunks for c in client._idle))
        answers.append((await client.post(url, content=b"2", headers={})).status_code)
        await client.aclose()
        return answers

    with scripted(answer_then_time_out) as server:
        assert asyncio.run(run(PlainHttpClient(allow, 5, 8), server.url)) == [200, 200]
    assert server.connections == 2


def test_at_most_the_cap_of_idle_connections_is_kept_for_all_receivers_together() -> None:
    async def run(client: PlainHttpClient, urls: list[str]) -> int:
        for url in urls:
            await client.post(url, content=b"{}", headers={})
        kept = len(client._idle)
        await client.aclose()
        return kept

    with scripted(keep_open) as a, scripted(keep_open) as b, scripted(keep_open) as c:
        assert asyncio.run(run(PlainHttpClient(allow, 5, 2), [a.url, b.url, c.url])) == 2


def test_an_idle_connection_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pytest_helios.emulator.plain_http.KEEP_ALIVE_SECONDS", 0.0)
    with scripted(keep_open) as server:
        assert post_all(PlainHttpClient(allow, 5, 8), server.url, 2) == [200, 200]
    assert server.connections == 2


def test_a_non_2xx_answer_is_returned_as_its_status() -> None:
    def fail(conn: socket.socket, n: int) -> bool:
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        return True

    with scripted(fail) as server:
        assert post_all(PlainHttpClient(allow, 5, 8), server.url, 2) == [503, 503]


def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    def garbage(conn: socket.socket, n: int) -> bool:
        conn.sendall(b"GARBAGE\r\n\r\n")
        return False

    with scripted(garbage) as server, pytest.raises(httpx.RemoteProtocolError):
        post_all(PlainHttpClient(allow, 5, 8), server.url, 1)


def test_a_receiver_that_closes_without_answering_is_a_protocol_error() -> None:
    with (
        scripted(lambda conn, n: False) as server,
        pytest.raises(
            httpx.RemoteProtocolError, match="Server disconnected without sending a response"
        ),
    ):
        post_all(PlainHttpClient(allow, 5, 8), server.url, 1)


def test_an_endless_answer_is_read_no_further_than_the_limit() -> None:
    def endless(conn: socket.socket, n: int) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        sent = 0
        try:
            while sent <= 4 * MAX_ANSWER_BYTES:
                conn.sendall(b"x" * 65536)
                sent += 65536
        except OSError:
            pass  # the client stopped reading and closed: as it should
        return False

    with scripted(endless) as server:
        assert post_all(PlainHttpClient(allow, 30, 8), server.url, 1) == [200]


def test_a_receiver_that_never_answers_is_a_timeout() -> None:
    def silent(conn: socket.socket, n: int) -> bool:
        conn.recv(1)  # until the client gives up and closes
        return False

    with scripted(silent) as server, pytest.raises(httpx.ReadTimeout, match="no answer within"):
        post_all(PlainHttpClient(allow, 0.2, 8), server.url, 1)


def test_a_refused_target_is_never_connected_to() -> None:
    def own_port(host: str, address: str | None, port: int) -> str | None:
        return None if address is None else f"{host}:{port} is the emulator itself: refused"

    with scripted(keep_open) as server:
        with pytest.raises(httpx.ConnectError) as raised:
            post_all(PlainHttpClient(own_port, 5, 8), server.url, 1)
        assert isinstance(raised.value, DeliveryRefused)
        assert server.connections == 0


def test_a_closed_port_is_a_connect_error_caused_by_the_refusal() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    closed.close()
    with pytest.raises(httpx.ConnectError) as raised:
        post_all(PlainHttpClient(allow, 5, 8), url, 1)
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/h", ("127.0.0.1", 8080, "/h", "127.0.0.1:8080")),
        ("http://[::1]:9/a?b=c", ("::1", 9, "/a?b=c", "[::1]:9")),
        ("http://10.0.0.7", ("10.0.0.7", 80, "/", "10.0.0.7")),
        ("http://127.0.0.1:0/x", ("127.0.0.1", 0, "/x", "127.0.0.1:0")),
        ("https://127.0.0.1:8443/h", None),
        ("http://localhost:8080/h", None),
        ("http://user:pw@127.0.0.1:8080/h", None),
        ("http://127.0.0.1:99999/h", None),
    ],
)
def test_only_plain_http_urls_at_an_ip_address_take_this_path(
    url: str, expected: tuple[str, int, str, str] | None
) -> None:
    assert plain_target(url) == expected
