"""Deliver raw bytes and headers to a URL, or in-process to a WSGI or ASGI app with no server.

The in-process drivers are small on purpose: they hand the app the exact bytes and every header
as given (duplicates, non-ASCII values and all), the way a real server would after reading them
off a socket, and they turn an exception raised by the app into the 500 a server would send,
keeping the exception's description for the report. httpx is imported only to send to a URL.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pytest_helios.masking import shorten

__all__ = [
    "DEFAULT_HOST",
    "DeliveryResponse",
    "Interface",
    "deliver",
    "detect_interface",
    "run_sync",
    "serve_asgi",
    "serve_wsgi",
]

Interface = Literal["url", "wsgi", "asgi"]
#: The ``Host`` an in-process delivery carries unless the caller gives one: the name Starlette's
#: ``TestClient`` and Django's test client use, which Django's test runner allows.
DEFAULT_HOST = "testserver"
T = TypeVar("T")
HeaderPairs = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class DeliveryResponse:
    """What the receiver answered. ``app_exception`` describes an exception the app raised."""

    status_code: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    content: bytes = b""
    app_exception: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def describe(self) -> str:
        """One line for a failure report: the status, and the app's exception if it raised."""
        if self.app_exception is not None:
            return f"{self.status_code} (the app raised {self.app_exception})"
        snippet = shorten(self.text.strip().replace("\n", " "), 80)
        return f"{self.status_code} {snippet}".rstrip()


def detect_interface(target: object) -> Interface:
    """``"url"`` for a string, ``"asgi"`` for an async callable, ``"wsgi"`` for another callable."""
    if isinstance(target, str):
        return "url"
    if not callable(target):
        raise TypeError(
            f"expected a URL string, a WSGI app or an ASGI app, got {type(target).__name__}"
        )
    # an app object: look at its own __call__ method (B004: we want the method, not a test)
    method = getattr(type(target), "__call__", None)  # noqa: B004
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(method):
        return "asgi"
    return "wsgi"


def deliver(
    target: object,
    body: bytes,
    headers: HeaderPairs,
    *,
    path: str = "/",
    interface: Interface | None = None,
    timeout: float = 10.0,
    client: Any = None,
    extra_headers: HeaderPairs = (),
) -> DeliveryResponse:
    """POST ``body`` with ``headers`` to ``target``: a URL, a WSGI app or an ASGI app.

    For an app, ``path`` is the request path (a URL carries its own) and the request carries
    ``Host: testserver`` as a server would pass it on (``extra_headers`` may give another).
    ``extra_headers`` are sent after ``headers``; a name already there is replaced. For a URL,
    ``client`` is an ``httpx.Client`` to reuse (a new one per call by default).
    """
    kind = interface or detect_interface(target)
    sent = _merged(headers, extra_headers)
    if kind == "url":
        return _deliver_to_url(str(target), body, sent, timeout, client)
    if not any(name.lower() == "host" for name, _ in sent):
        sent = [("Host", DEFAULT_HOST), *sent]
    if kind == "wsgi":
        return _deliver_to_wsgi(target, body, sent, path)
    return _deliver_to_asgi(target, body, sent, path)


def _merged(headers: HeaderPairs, extra: HeaderPairs) -> list[tuple[str, str]]:
    replaced = {name.lower() for name, _ in extra}
    return [(n, v) for n, v in headers if n.lower() not in replaced] + list(extra)


def _host_and_port(headers: HeaderPairs) -> tuple[str, str]:
    host = next((v for n, v in headers if n.lower() == "host"), DEFAULT_HOST)
    if host.startswith("["):  # an IPv6 literal: [::1] or [::1]:8080
        literal, _, rest = host.partition("]")
        port = rest[1:] if rest.startswith(":") and rest[1:].isdigit() else "80"
        return literal + "]", port
    name, colon, port = host.rpartition(":")
    return (name, port) if colon and port.isdigit() else (host, "80")


def _encoded(headers: HeaderPairs) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("utf-8")) for name, value in headers]


def _deliver_to_url(
    url: str, body: bytes, headers: HeaderPairs, timeout: float, client: Any
) -> DeliveryResponse:
    import httpx

    if client is None:
        with httpx.Client(timeout=timeout) as own:
            return _deliver_to_url(url, body, headers, timeout, own)
    response = client.post(url, content=body, headers=_encoded(headers), timeout=timeout)
    return DeliveryResponse(
        status_code=response.status_code,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
        content=response.content,
    )


def _describe(exc: BaseException) -> str:
    message = shorten(str(exc), 200)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _split_path(path: str) -> tuple[str, str]:
    route, _, query = path.partition("?")
    return route or "/", query


def _deliver_to_wsgi(app: Any, body: bytes, headers: HeaderPairs, path: str) -> DeliveryResponse:
    route, query = _split_path(path)
    server_name, server_port = _host_and_port(headers)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in _encoded(headers):
        # PEP 3333: header values are "native strings" holding the raw bytes as latin-1
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
        if key == "CONTENT_LENGTH":
            continue
        environ[key] = f"{environ[key]},{value}" if key in environ else value  # how servers join
    started: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started["status"] = status
        started["headers"] = response_headers
        return lambda data: None

    chunks: list[bytes] = []
    result: Iterable[bytes] | None = None
    try:
        result = app(environ, start_response)
        chunks.extend(result)
    except Exception as exc:
        return DeliveryResponse(500, [], b"Internal Server Error", _describe(exc))
    finally:
        close = getattr(result, "close", None)
        if callable(close):
            close()
    if "status" not in started:
        return DeliveryResponse(500, [], b"", "the app never called start_response")
    status_code = int(str(started["status"]).split(" ", 1)[0])
    return DeliveryResponse(status_code, list(started["headers"]), b"".join(chunks))


def _deliver_to_asgi(app: Any, body: bytes, headers: HeaderPairs, path: str) -> DeliveryResponse:
    return run_sync(_asgi_request(app, body, headers, path))


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion from synchronous code, even inside a running loop.

    With no running event loop it uses ``asyncio.run``; called from inside one (an async
    test), it runs a loop of its own in a short-lived thread and waits for it.
    """

    async def wrapper() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(wrapper()))
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="pytest-helios-run-sync")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def _asgi_request(app: Any, body: bytes, headers: HeaderPairs, path: str) -> DeliveryResponse:
    route, query = _split_path(path)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode("utf-8"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in _encoded(headers)]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": (_host_and_port(headers)[0], int(_host_and_port(headers)[1])),
        "state": {},
    }
    request_sent = False
    finished = asyncio.Event()
    status: list[int] = []
    response_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
            response_headers.extend(
                (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:
        code = status[0] if status else 500
        return DeliveryResponse(code, response_headers, b"".join(chunks), _describe(exc))
    finally:
        finished.set()
    if not status:
        return DeliveryResponse(500, [], b"", "the app returned without sending a response")
    return DeliveryResponse(status[0], response_headers, b"".join(chunks))


@contextmanager
def serve_asgi(app: Any, *, path: str = "/") -> Iterator[str]:
    """Serve an ASGI ``app`` (FastAPI, Starlette, ...) on a free loopback port for the ``with``
    block; yields its URL.

    uvicorn in a background thread with its own event loop, the app's lifespan run (startup
    and shutdown hooks), no access log; it stops and releases the port on exit. Use it where
    the emulator (or anything outside the test's process) must reach the app over HTTP.
    """
    import socket

    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[listener])
        except BaseException as exc:  # reported in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="pytest-helios-asgi", daemon=True)
    thread.start()
    try:
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError(f"the ASGI app did not start: {failure[0] if failure else ''}")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@contextmanager
def serve_wsgi(app: Callable[..., Iterable[bytes]], *, path: str = "/") -> Iterator[str]:
    """Serve a WSGI ``app`` on a free loopback port for the ``with`` block; yields its URL.

    A real HTTP server (the standard library's ``wsgiref``) in a background thread, shut down
    and closed on exit, so that nothing leaks.
    """
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
            pass

    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="pytest-helios-wsgi"
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
