"""The one loopback HTTP server of the project's tests: a real socket on 127.0.0.1, a free port.

``LoopbackServer(handler)`` serves a stdlib ``BaseHTTPRequestHandler`` subclass on a thread and
shuts down cleanly (``with`` block or ``close()``). ``QuietHandler`` is the base the tests'
handlers share: no request logging, Nagle's algorithm off (a webhook answer in two sends would
otherwise wait for a delayed ACK), and helpers to read the body and answer in one go.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

_S = TypeVar("_S", bound="LoopbackServer")


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers with one write."""

    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def body(self) -> bytes:
        """The request body (``Content-Length`` bytes)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Send ``status`` with ``body`` and ``headers`` (Content-Length is added)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class LoopbackServer:
    """A threaded stdlib HTTP server on 127.0.0.1 (a free port), started and stopped cleanly.

    ``url`` is ``http://127.0.0.1:<port>`` followed by the class's ``path``.
    """

    path = ""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="test-loopback", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def start(self: _S) -> _S:
        self._thread.start()
        return self

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
