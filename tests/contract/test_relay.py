"""The contract suite's webhook relay forwards while it runs, and nothing once it is closed: a
sender's keep-alive connection must not reach the receiver of a test that has ended."""

from __future__ import annotations

import socket
import threading
from contextlib import closing

from pytest_helios.contract._relay import Relay
from tests.loopback import LoopbackServer, QuietHandler


def post_on(sock: socket.socket, body: bytes) -> bytes:
    """One keep-alive POST on ``sock``; the head of the answer."""
    sock.sendall(
        b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    answer = b""
    while b"\r\n\r\nok" not in answer:
        chunk = sock.recv(65536)
        assert chunk, answer
        answer += chunk
    return answer.partition(b"\r\n")[0]


def test_closing_the_relay_closes_the_connections_it_kept_alive() -> None:
    received: list[bytes] = []
    lock = threading.Lock()

    class Receiver(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.body()
            with lock:
                received.append(body)
            self.reply(200, b"ok")

    with LoopbackServer(Receiver) as receiver:
        with Relay(lambda path: receiver.url + path) as relay:
            port = int(relay.url.rsplit(":", 1)[1])
            sender = socket.create_connection(("127.0.0.1", port), timeout=5)
            assert post_on(sender, b"during the test") == b"HTTP/1.1 200 OK"
        with closing(sender):
            assert sender.recv(1) == b""  # closed by the relay, not left to a lingering thread
    assert received == [b"during the test"]
