"""The emulator's own small ASGI layer: requests, responses, routes and the app that joins them.

The emulator's HTTP code needs a request's method, path, headers, path and query parameters and
body, JSON answers, and a route table that answers unknown paths and wrong methods itself. That
is this module, written on the standard library alone: a web framework would cost the first
test that uses the emulator its import (Starlette's is ~25 ms), for features the emulator never
uses. The app is a plain ASGI application, so users can still wrap it in any ASGI middleware
and httpx's ``ASGITransport`` drives it in-process.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Where the app keeps the server's own ``send`` in the scope: a fault that resets or cuts a
#: connection reaches the connection through it.
RAW_SEND = "helios.raw_send"


class ClientDisconnect(Exception):
    """The client went away before its request body was complete."""


class Headers(Mapping[str, str]):
    """A request's headers by lower-case name (the first of repeated ones), decoded as
    Latin-1 like every HTTP header value; built on first use."""

    __slots__ = ("_by_name", "_raw")

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._by_name: dict[str, str] | None = None

    def _table(self) -> dict[str, str]:
        if self._by_name is None:
            table: dict[str, str] = {}
            for name, value in self._raw:
                table.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
            self._by_name = table
        return self._by_name

    def __getitem__(self, name: str) -> str:
        return self._table()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._table()

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


class Request:
    """One HTTP request: its scope, its body as the client sends it, and its route's
    ``path_params``."""

    __slots__ = ("_consumed", "_headers", "path_params", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.path_params: dict[str, str] = {}
        self._headers: Headers | None = None
        self._consumed = False

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def query_params(self) -> dict[str, str]:
        """The query string's parameters (the first of repeated ones)."""
        from urllib.parse import parse_qsl

        found: dict[str, str] = {}
        query = self.scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            found.setdefault(name, value)
        return found

    def base_url(self) -> str:
        """``scheme://host`` as the client addressed the request (its ``Host`` header, else the
        server's address), then the path, without the query."""
        scheme = self.scope.get("scheme", "http")
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server")
            host = "localhost" if server is None else f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}{self.scope.get('root_path', '')}{self.path}"

    async def stream(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive; :class:`ClientDisconnect` if the client goes."""
        if self._consumed:
            raise RuntimeError("the request body has already been read")
        self._consumed = True
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class Response:
    """An answer with a body of bytes: status, headers (``content-length`` and, given a
    ``media_type``, ``content-type`` added), body."""

    media_type: str | None = None

    def __init__(
        self,
        content: bytes = b"",
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = content
        media = media_type or self.media_type
        raw = [(b"content-length", str(len(content)).encode("latin-1"))]
        if media is not None:
            raw.append((b"content-type", media.encode("latin-1")))
        for name, value in (headers or {}).items():
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        self.raw_headers = raw

    @property
    def headers(self) -> Headers:
        return Headers(self.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


class JSONResponse(Response):
    """``content`` as compact UTF-8 JSON (no NaN: JSON has none)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        super().__init__(body.encode("utf-8"), status_code, headers)


Endpoint = Callable[[Request], Awaitable[Response]]

_PARAM = re.compile(r"{(\w+)}")


class Route:
    """``path`` (``{name}`` matching one non-empty path segment) answered by ``endpoint`` for
    ``methods`` (GET also answers HEAD)."""

    __slots__ = ("_pattern", "endpoint", "methods", "path")

    def __init__(self, path: str, endpoint: Endpoint, methods: Sequence[str] = ("GET",)) -> None:
        self.path = path
        self.endpoint = endpoint
        found = {method.upper() for method in methods}
        if "GET" in found:
            found.add("HEAD")
        self.methods = frozenset(found)
        parts = _PARAM.split(path)
        # literal text at even positions, parameter names at odd ones
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
            for index, part in enumerate(parts)
        )
        self._pattern = re.compile(regex)

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` is this route's, else ``None``."""
        found = self._pattern.fullmatch(path)
        return None if found is None else found.groupdict()


NotFound = Callable[[Request], Awaitable[Response]]
NotAllowed = Callable[[Request, str], Awaitable[Response]]
Crash = Callable[[Request, Exception], Awaitable[Response]]


class App:
    """An ASGI app answering each request by the first route with its path and method;
    ``not_found`` answers an unknown path, ``not_allowed`` (given the allowed methods, as an
    ``Allow`` header lists them) a known path asked with another method, and ``crash`` an
    exception that escapes an endpoint (which ``on_crash`` is also told of)."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        not_found: NotFound,
        not_allowed: NotAllowed,
        crash: Crash,
        on_crash: Callable[[Exception], None] | None = None,
    ) -> None:
        self.routes = list(routes)
        self.not_found = not_found
        self.not_allowed = not_allowed
        self.crash = crash
        self.on_crash = on_crash

    def resolve(self, request: Request) -> Endpoint | str | None:
        """The endpoint for ``request`` (its path parameters set), else the methods its path
        allows (``"GET, HEAD"``), else ``None`` for an unknown path."""
        allowed: set[str] = set()
        for route in self.routes:
            params = route.match(request.path)
            if params is None:
                continue
            if request.method in route.methods:
                request.path_params = params
                return route.endpoint
            allowed |= route.methods
        return ", ".join(sorted(allowed)) if allowed else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"the emulator serves HTTP only, not {scope['type']!r}")
        scope[RAW_SEND] = send
        request = Request(scope, receive)
        try:
            found = self.resolve(request)
            if found is None:
                response = await self.not_found(request)
            elif isinstance(found, str):
                response = await self.not_allowed(request, found)
            else:
                response = await found(request)
        except Exception as exc:
            if self.on_crash is not None:
                self.on_crash(exc)
            response = await self.crash(request, exc)
        await response(scope, receive, send)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop: say so to a server that asks."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
