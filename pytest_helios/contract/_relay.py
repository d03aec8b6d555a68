"""A small forwarding HTTP server on loopback.

The live API delivers webhooks only to a public URL. A user who points such a URL (a tunnel,
a reverse proxy) at ``127.0.0.1:<HELIOS_CONTRACT_WEBHOOK_PORT>`` lets the contract suite read
live deliveries: this relay listens on that port and passes each POST, bytes and headers
unchanged, to the test's ``helios_webhook_receiver``, and its answer back.

Closing the relay closes every connection it holds: a sender that keeps its connections alive
(the emulator does) must not reach the receiver of a test that has ended through one of them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HOP_BY_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding"})
_DROPPED_ANSWER = frozenset({"content-length", "date", "server", "connection"})

Rewrite = Callable[[int, bytes], bytes]


class Relay:
    """Forwards every POST (and GET) to ``forward(path)`` and answers with what came back
    (``rewrite(status, body)`` may change the answer's body). Use as a context manager."""

    def __init__(
        self,
        forward: Callable[[str], str],
        *,
        port: int = 0,
        rewrite: Rewrite | None = None,
    ) -> None:
        import httpx

        self._client = httpx.Client(timeout=30.0)
        client = self._client

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

            def _forward(self, method: str) -> None:
                sent = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                answer = client.request(
                    method, forward(self.path), content=sent or None, headers=headers
                )
                body = answer.content
                if rewrite is not None:
                    body = rewrite(answer.status_code, body)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _DROPPED_ANSWER:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="helios-contract-relay"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()  # no new connection
        self._server.close_connections()  # nor another request on an open one
        self._server.server_close()  # joins the handler threads
        self._thread.join()
        self._client.close()


class _Server(ThreadingHTTPServer):
    """A threaded server that knows its open connections, to close them when it closes."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = False

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self._closing:  # a connection cut by close_connections is no error
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._lock:
            self._closing = True
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):  # the client may have closed it first
                connection.shutdown(socket.SHUT_RDWR)
