"""Webhook deliveries to plain ``http://`` receivers at an IP address: HTTP/1.1 on h11 and
an asyncio protocol, with keep-alive connections.

A delivery is one small POST and its answer; through httpx's async client it costs about
half a millisecond of CPU in pool, cancel-scope and model bookkeeping, which a run's eight
webhooks paid on every test. This client does that one thing: it answers to the part of
``httpx.AsyncClient`` the deliverer uses (``post`` and ``aclose``) and raises httpx's
exceptions, so the deliverer records the same outcomes (``"timeout"``, ``"connection
refused"``, ``"refused: ..."``, ``HTTP 500``) whichever client made the attempt. Receivers
named by host name (looked up first) and ``https://`` ones still go through httpx.

Like httpcore it never sends a request twice: a kept-alive connection that the receiver closed,
or on which it said anything while idle, is not used again; a request that fails once written
is a failed attempt, which the deliverer retries (and logs) as any other.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: The most bytes of a receiver's answer body that are read (and thrown away); a connection
#: whose answer is longer is closed instead of kept.
MAX_ANSWER_BYTES = 1024 * 1024
#: Seconds an idle connection is kept for the next delivery (httpx's default too).
KEEP_ALIVE_SECONDS = 5.0
_USER_AGENT = b"pytest-helios-emulator"

Refusal = Callable[[str, "str | None", int], "str | None"]


class DeliveryRefused(Exception):
    """A delivery attempt that must not connect where its URL leads (see
    :mod:`~pytest_helios.emulator.delivery`), whichever client makes it."""


@dataclass(frozen=True)
class Answer:
    """What the deliverer reads of a receiver's answer."""

    status_code: int


def plain_target(url: str) -> tuple[str, int, str, str] | None:
    """``(host, port, target, Host header)`` for an ``http://`` URL whose host is an IP
    address and that has no user info; ``None`` for any other URL (httpx sends those)."""
    try:
        parts = urlsplit(url)
        port = 80 if parts.port is None else parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme.lower() != "http" or not host or "@" in parts.netloc:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, target, parts.netloc


def is_plain(url: str) -> bool:
    """Whether :class:`PlainHttpClient` sends to ``url``."""
    return plain_target(url) is not None


class _Wire(asyncio.Protocol):
    """One connection's bytes as they arrive, and whether it is gone."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.lost = False
        self._arrived = asyncio.Event()
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._arrived.set()

    def eof_received(self) -> bool | None:
        self.lost = True
        self._arrived.set()
        return None  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._arrived.set()
        self.closed.set()

    async def read(self) -> bytes:
        """The next bytes; ``b""`` once the connection is gone and everything was read."""
        while not self.chunks and not self.lost:
            self._arrived.clear()
            await self._arrived.wait()
        return self.chunks.popleft() if self.chunks else b""


class _Connection:
    def __init__(self, key: tuple[str, int], wire: _Wire) -> None:
        import h11

        self.key = key
        self.wire = wire
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        """Idle, open, silent since its last answer, and not idle too long."""
        import h11

        transport = self.wire.transport
        return (
            transport is not None
            and not transport.is_closing()
            and not self.wire.lost
            and not self.wire.chunks
            and not self.h11.trailing_data[0]  # nor sent more than its answer
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and now - self.idle_since < KEEP_ALIVE_SECONDS
        )

    def close(self) -> None:
        if self.wire.transport is not None:
            self.wire.transport.close()


class PlainHttpClient:
    """POSTs to ``http://<address>:<port>/...`` keeping at most ``idle`` connections idle
    (all receivers together, the most recently used), each attempt bounded by ``timeout``
    seconds and checked by ``refusal(host, address, port)`` (a reason not to connect, or
    ``None``) first."""

    def __init__(self, refusal: Refusal, timeout: float, idle: int) -> None:
        self._refusal = refusal
        self._timeout = timeout
        self._idle_cap = idle
        self._idle: list[_Connection] = []  # oldest first
        self._busy: set[_Connection] = set()

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> Answer:
        import httpx

        found = plain_target(url)
        if found is None:
            raise ValueError(f"not a plain http:// URL at an IP address: {url!r}")
        host, port, target, authority = found
        reason = self._refusal(host, None, port) or self._refusal(host, host, port)
        if reason is not None:
            raise _refused(reason)
        head = [
            (b"host", authority.encode("ascii")),
            (b"user-agent", _USER_AGENT),
            (b"accept", b"*/*"),
            (b"content-length", str(len(content)).encode("ascii")),
            *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
        ]
        try:
            return await asyncio.wait_for(
                self._exchange((host, port), target.encode("ascii"), head, content),
                self._timeout,
            )
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {self._timeout:g} s") from None

    async def _exchange(
        self, key: tuple[str, int], target: bytes, head: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        connection = await self._connection(key)
        try:
            return await self._request(connection, target, head, body)
        finally:
            if connection in self._busy:  # not handed back: an error, or cancelled
                self._busy.discard(connection)
                connection.close()

    async def _connection(self, key: tuple[str, int]) -> _Connection:
        import httpx

        loop = asyncio.get_running_loop()
        now = loop.time()
        found = None
        for connection in reversed(self._idle):  # the most recently used first
            if connection.key == key and connection.reusable(now):
                found = connection
                break
        self._prune(now, keep=found)
        if found is not None:
            self._idle.remove(found)
            self._busy.add(found)
            return found
        try:
            _, wire = await loop.create_connection(_Wire, *key)
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        connection = _Connection(key, wire)
        self._busy.add(connection)
        return connection

    def _prune(self, now: float, keep: _Connection | None = None) -> None:
        """Close idle connections that cannot be used again, and the oldest beyond the cap."""
        for connection in list(self._idle):
            if connection is not keep and not connection.reusable(now):
                self._idle.remove(connection)
                connection.close()
        while len(self._idle) > self._idle_cap:
            self._idle.pop(0).close()

    async def _request(
        self, connection: _Connection, target: bytes, head: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        import h11
        import httpx

        conn, wire = connection.h11, connection.wire
        try:
            out = conn.send(h11.Request(method=b"POST", target=target, headers=head))
            out += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        assert wire.transport is not None
        wire.transport.write(out)
        status: int | None = None
        length = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None
            if event is h11.NEED_DATA:
                data = await wire.read()
                if not data and status is None:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                length += len(event.data)
                if length > MAX_ANSWER_BYTES:
                    break  # enough: the status is known, the rest is not read
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        assert status is not None
        self._busy.discard(connection)
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
            self._prune(connection.idle_since)
        else:
            connection.close()
        return Answer(status)

    async def aclose(self) -> None:
        connections = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            connection.close()
        if connections:  # let the transports finish closing before the loop may end
            waits = [asyncio.ensure_future(c.wire.closed.wait()) for c in connections]
            _, pending = await asyncio.wait(waits, timeout=1.0)
            for task in pending:
                task.cancel()


_REFUSED: Any = None


def _refused(reason: str) -> Exception:
    """httpx's ``ConnectError`` that is also a :class:`DeliveryRefused`: the deliverer
    records it as ``refused: <reason>``."""
    global _REFUSED
    if _REFUSED is None:
        import httpx

        class Refused(DeliveryRefused, httpx.ConnectError):
            pass

        _REFUSED = Refused
    error: Exception = _REFUSED(reason)
    return error
