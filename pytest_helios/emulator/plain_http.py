"""Webhook deliveries to plain ``http://`` receivers at an IP address: HTTP/1.1 on h11 and
asyncio streams, with keep-alive connections.

A delivery is one small POST and its answer; through httpx's async client it costs about
half a millisecond of CPU in pool, cancel-scope and model bookkeeping, which a run's eight
webhooks paid on every test. This client does that one thing: it answers to the part of
``httpx.AsyncClient`` the deliverer uses (``post`` and ``aclose``) and raises httpx's
exceptions, so the deliverer records the same outcomes (``"timeout"``, ``"connection
refused"``, ``"refused: ..."``, ``HTTP 500``) whichever client made the attempt. Receivers
named by host name (looked up first) and ``https://`` ones still go through httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The most bytes of a receiver's answer body that are read (and thrown away); a connection
#: whose answer is longer is closed instead of kept.
MAX_ANSWER_BYTES = 1024 * 1024
_READ = 64 * 1024
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
        port = parts.port or 80
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


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h11

        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        import h11

        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
        )

    def close(self) -> None:
        self.writer.close()


class PlainHttpClient:
    """POSTs to ``http://<address>:<port>/...`` with at most ``idle`` kept-alive connections
    per address and port, each attempt bounded by ``timeout`` seconds and checked by
    ``refusal(host, address, port)`` (a reason not to connect, or ``None``) first."""

    def __init__(self, refusal: Refusal, timeout: float, idle: int) -> None:
        self._refusal = refusal
        self._timeout = timeout
        self._idle_cap = idle
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> Answer:
        import httpx

        found = plain_target(url)
        if found is None:
            raise ValueError(f"not a plain http:// URL at an IP address: {url!r}")
        host, port, target, authority = found
        reason = self._refusal(host, None, port) or self._refusal(host, host, port)
        if reason is not None:
            raise httpx.ConnectError(reason) from DeliveryRefused(reason)
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
        import httpx

        connection, reused = await self._connection(key)
        try:
            try:
                return await self._request(connection, key, target, head, body)
            except (ConnectionError, asyncio.IncompleteReadError, _Closed):
                if not reused:
                    raise
            # a kept-alive connection the receiver had closed meanwhile: once more, afresh
            connection.close()
            self._busy.discard(connection)
            connection, _ = await self._connection(key, fresh=True)
            return await self._request(connection, key, target, head, body)
        except _Closed:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response."
            ) from None
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if connection in self._busy:  # not handed back: an error, or cancelled
                self._busy.discard(connection)
                connection.close()

    async def _connection(
        self, key: tuple[str, int], fresh: bool = False
    ) -> tuple[_Connection, bool]:
        import httpx

        idle = self._idle.get(key, [])
        while idle and not fresh:
            connection = idle.pop()
            if connection.reusable():
                self._busy.add(connection)
                return connection, True
            connection.close()
        try:
            reader, writer = await asyncio.open_connection(*key, limit=_READ)
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        connection = _Connection(reader, writer)
        self._busy.add(connection)
        return connection, False

    async def _request(
        self,
        connection: _Connection,
        key: tuple[str, int],
        target: bytes,
        head: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> Answer:
        import h11
        import httpx

        conn = connection.h11
        try:
            out = conn.send(h11.Request(method=b"POST", target=target, headers=head))
            out += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        connection.writer.write(out)
        await connection.writer.drain()
        status: int | None = None
        length = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None
            if event is h11.NEED_DATA:
                data = await connection.reader.read(_READ)
                if not data and status is None:
                    raise _Closed
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                length += len(event.data)
                if length > MAX_ANSWER_BYTES:
                    break  # enough: the status is known, the rest is not read
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                if status is None:
                    raise _Closed
                break
        assert status is not None
        self._busy.discard(connection)
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._idle_cap:
                idle.append(connection)
                return Answer(status)
        connection.close()
        return Answer(status)

    async def aclose(self) -> None:
        connections = [c for idle in self._idle.values() for c in idle]
        connections += self._busy
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()


class _Closed(Exception):
    """The receiver closed the connection before answering."""


def is_plain(url: str) -> bool:
    """Whether :class:`PlainHttpClient` sends to ``url``."""
    return plain_target(url) is not None
