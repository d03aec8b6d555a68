"""The emulator's HTTP/1.1 server: its app on a loopback port, on the emulator's event loop.

Written on h11 (which httpx already loads) and asyncio alone: a general ASGI server would cost
the first test that uses the emulator its import (uvicorn's is ~50 ms, with click). It serves
one app, HTTP/1.1 with keep-alive, pipelining, ``Expect: 100-continue`` and flow control, and
the emulator is shared by every test of a session and by clients in other languages, so no
client may take it over:

- **a header deadline**: every request's headers must arrive within ``header_timeout`` seconds
  of the connection opening (or of the previous answer on it); a client that trickles them is
  answered 408 and disconnected, an idle keep-alive connection is simply closed;
- **a connection cap**: at ``max_connections`` open connections, a new one takes the place of
  the oldest that has no request in progress (idle, still sending its headers, or still
  sending its body), so a flood of idle or trickling connections cannot lock out a client that
  sends a whole request; only when every connection is busy answering is a new one closed. A
  connection costs next to nothing until its first bytes arrive (:class:`Arrival`);
- **its own accept loop**: when the process runs out of file descriptors, asyncio's accept loop
  logs a traceback and re-arms itself once per pending connection (thousands a second); this
  one pauses for a moment and says so once;
- **bounded logging**: warnings and the app's failures go through a
  :class:`~pytest_helios.emulator.loop.ThrottledLogger`, a few lines per cause;
- **one answer to what is not HTTP/1.1**: a JSON 400, and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

from .loop import LoopThread, throttled_logger

#: Connections accepted per readiness event of the listening socket.
ACCEPT_BATCH = 64
#: Seconds accepting pauses when the process is out of file descriptors or memory.
ACCEPT_PAUSE = 0.5
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: The longest request line and headers, in bytes (h11's default); longer ones get a 400.
MAX_HEAD_BYTES = 16 * 1024
#: Request body bytes held for the app before reading from its connection pauses.
HIGH_WATER = 64 * 1024
#: Seconds :meth:`Server.stop` lets answers in progress finish.
GRACEFUL_SECONDS = 2.0
#: Seconds a connection closing after its last answer waits for the client to close too.
LINGER_SECONDS = 2.0

_log = throttled_logger("pytest_helios.emulator.server")


def default_max_connections() -> int:
    """A quarter of the process's file descriptor limit, between 16 and 512: room to spare for
    deliveries, the tests' own sockets and files (macOS allows 256 descriptors by default)."""
    try:
        import resource
    except ImportError:  # no such limit to respect (Windows)
        return 512
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 512
    return max(16, min(512, soft // 4))


def _closing_answer(status: int, message: str) -> bytes:
    """A whole JSON error answer, ``{"error", "message"}`` as every emulator error, that closes
    the connection: written by the server itself, for a request the app never sees."""
    title = HTTPStatus(status).phrase
    body = json.dumps({"error": title, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def _timeout_answer(seconds: float) -> bytes:
    return _closing_answer(408, f"The request headers did not arrive within {seconds:g} s")


class ConnectionGuard:
    """The open connections of one server and what each is doing; makes room for a new one.

    ``waiting`` holds the connections with no request in progress, oldest first; ``busy`` those
    whose request the app is handling, in the order they became busy. A connection is known by
    its :class:`Arrival` from first to last, so the HTTP protocol taking it over keeps its age.
    ``counts`` tallies what was done: ``evicted``, ``timed out``, ``refused``.
    """

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.waiting: dict[Any, None] = {}
        self.busy: dict[Any, None] = {}
        self.counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.waiting) + len(self.busy)

    def admit(self, connection: Any) -> bool:
        """Make room for ``connection`` (closing the oldest that has no request in progress)
        and count it as waiting for its headers; False when every connection is busy."""
        if len(self) >= self.max_connections:
            victim = next(iter(self.waiting), None)
            if victim is None:
                victim = next((c for c in self.busy if c.still_receiving()), None)
            if victim is None:
                self.counts["refused"] += 1
                return False
            self.counts["evicted"] += 1
            self.forget(victim)
            victim.drop()
        self.waiting[connection] = None
        return True

    def started(self, connection: Any) -> None:
        self.waiting.pop(connection, None)
        self.busy[connection] = None

    def finished(self, connection: Any) -> None:
        self.busy.pop(connection, None)
        self.waiting.pop(connection, None)
        self.waiting[connection] = None  # now the newest waiting

    def forget(self, connection: Any) -> None:
        self.waiting.pop(connection, None)
        self.busy.pop(connection, None)


_INVALID = _closing_answer(400, "The request is not valid HTTP/1.1")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """Now as an HTTP ``Date`` header value (RFC 9110 IMF-fixdate), computed once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        text = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
        _date_cache = (now, text.encode("ascii"))
    return _date_cache[1]


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class Served:
    """What the connections of one server share: the app, the guard, the loop, and the open
    connections and running request tasks (for a graceful stop)."""

    def __init__(self, app: Any, guard: ConnectionGuard, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.guard = guard
        self.loop = loop
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: h11 parses it, each request is handed to the ASGI app in a task
    of its own (a :class:`Cycle`), pipelined requests wait their turn, and ``served.guard``'s
    header deadline and connection cap apply (see the module docstring)."""

    def __init__(self, served: Served) -> None:
        import h11

        self.served = served
        self.loop = served.loop
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.cycle: Cycle | None = None
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._adopted: float | None = None
        #: what the guard knows this connection by: itself, or the Arrival it took over
        self._handle: Any = self
        self._read_paused = False
        self._eof = False
        self._lingering = False
        self._writable = asyncio.Event()
        self._writable.set()

    # the guard's side ---------------------------------------------------------------------

    def adopt(self, deadline: float, handle: Any) -> None:
        """Take over a connection an :class:`Arrival` admitted (``handle``, which keeps its
        place among the guard's connections) and its header deadline (loop time); before
        :meth:`connection_made`."""
        self._adopted = deadline
        self._handle = handle

    def still_receiving(self) -> bool:
        """Whether the app waits for more of this connection's request body."""
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not cycle.response_started

    def drop(self) -> None:
        """Close the connection at once to make room for another (a client that reads
        nothing would otherwise keep it open until its answer is flushed)."""
        self._disarm()
        self.transport.abort()

    def shutdown(self) -> None:
        """Close when idle, or once the answer in progress is sent."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.served.guard.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.served.guard.counts["timed out"] += 1
        started, _closed = self.conn.trailing_data
        if started:  # part of a request arrived: say why it is not answered
            self.transport.write(_timeout_answer(self.served.guard.header_timeout))
            self.finish()
            return
        self.transport.close()

    def finish(self) -> None:
        """Close after what has been written: send it and a FIN, then read and throw away
        whatever the client still sends until it closes too (at most
        :data:`LINGER_SECONDS`). Closing with unread bytes would send a reset, which can
        destroy the answer before the client reads it."""
        if self._lingering or self.transport.is_closing():
            return
        if self._eof or not self.transport.can_write_eof():  # nothing more can arrive
            self.transport.close()
            return
        self._lingering = True
        self._disarm()
        self.transport.write_eof()
        self.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    # asyncio's side -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        self.served.connections.add(self)
        if self._adopted is not None:
            self._deadline = self.loop.call_at(self._adopted, self._too_slow)
            return
        if not self.served.guard.admit(self):
            _log.warning(
                "closed a new connection: all %d connections are busy answering",
                self.served.guard.max_connections,
            )
            self.transport.abort()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.served.guard.forget(self._handle)
        self.served.connections.discard(self)
        cycle = self.cycle
        if cycle is not None:
            if not cycle.response_complete:
                cycle.disconnected = True
            cycle.message_event.set()
        self._writable.set()

    def eof_received(self) -> bool | None:
        """The client closed its side: a whole request still gets its answer (then the
        connection closes); otherwise the connection closes now."""
        cycle = self.cycle
        if self._lingering:
            return None  # the client has closed too: done
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            self._eof = True
            return True
        return None

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def drain(self) -> None:
        """Wait until the transport takes more data."""
        await self._writable.wait()

    def pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after the last answer: read only to close cleanly
        self.conn.receive_data(data)
        self.handle_events()

    # HTTP ---------------------------------------------------------------------------------

    def handle_events(self) -> None:
        """Act on every event h11 has parsed: a request starts a cycle, body data goes to it,
        the end of a request wakes it; stop at what needs more data or waits for the answer."""
        import h11

        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self._refuse()
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:  # a pipelined request: it waits for this answer
                self.pause_reading()
                return
            cycle = self.cycle
            if isinstance(event, h11.Request):
                if not self._begin(event):
                    return
            elif isinstance(event, h11.Data) and cycle is not None:
                if self.conn.our_state is h11.DONE:
                    continue  # the rest of a body the app answered without reading
                cycle.body += event.data
                if len(cycle.body) > HIGH_WATER:
                    self.pause_reading()
                cycle.message_event.set()
            elif isinstance(event, h11.EndOfMessage) and cycle is not None:
                if self.conn.our_state is h11.DONE:
                    self.resume_reading()
                    self.conn.start_next_cycle()
                    continue
                cycle.more_body = False
                cycle.message_event.set()
                if self.conn.their_state is h11.MUST_CLOSE:
                    self.pause_reading()  # the client said this is its last request
                    return

    def _begin(self, event: Any) -> bool:
        """Start the app on a request whose head has arrived; False when it is refused."""
        raw_path, _, query = event.target.partition(b"?")
        try:
            path = unquote(raw_path.decode("ascii"), errors="strict")
        except UnicodeDecodeError:
            self._refuse()
            return False
        self._disarm()
        self.served.guard.started(self._handle)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": event.http_version.decode("ascii"),
            "server": self.server,
            "client": self.client,
            "scheme": "http",
            "method": event.method.decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": list(event.headers),
        }
        cycle = self.cycle = Cycle(self, scope)
        task = self.loop.create_task(cycle.run(self.served.app))
        self.served.tasks.add(task)
        task.add_done_callback(self.served.tasks.discard)
        return True

    def _refuse(self) -> None:
        """Answer a request that is not HTTP/1.1 with a 400 and close; a connection that is
        answering an earlier request reads no more, sends that answer, then closes."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.write(_INVALID)
            self.finish()
            return
        cycle.keep_alive = False
        self.pause_reading()

    def on_response_complete(self) -> None:
        """The answer is sent: wait for the next request (with a new header deadline), and
        start one that was pipelined behind this one."""
        import h11

        if self.transport.is_closing():
            return
        self.served.guard.finished(self._handle)
        if self._lingering:
            return
        self._arm()
        self.resume_reading()
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            self.handle_events()
        if self._eof:  # answer only what arrived whole before the client closed its side
            cycle = self.cycle
            if cycle is None or cycle.response_complete or cycle.more_body:
                self.transport.close()


def _address(found: Any) -> tuple[str, int] | None:
    if isinstance(found, tuple) and len(found) >= 2:
        return str(found[0]), int(found[1])
    return None


class Cycle:
    """One request and its answer: the ASGI ``receive`` and ``send`` of the app's call."""

    def __init__(self, connection: Connection, scope: dict[str, Any]) -> None:
        self.connection = connection
        self.transport = connection.transport
        self.conn = connection.conn
        self.scope = scope
        self.body = bytearray()
        self.more_body = True
        self.message_event = asyncio.Event()
        self.disconnected = False
        self.keep_alive = True
        self.waiting_for_100_continue = bool(self.conn.they_are_waiting_for_100_continue)
        self.response_started = False
        self.response_complete = False
        self._head = b""
        self._headless = scope["method"] == "HEAD"

    async def run(self, app: Any) -> None:
        """Call the app; an app that fails before answering gets a 500 answered for it."""
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            self.transport.close()
            raise
        except Exception as exc:
            _log.error(
                "the emulator failed answering a request",
                exc_info=exc,
                key=("app", type(exc)),
            )
            if self.response_started or self.disconnected:
                self.transport.close()
            else:
                await self._answer_500()
        else:
            if not self.response_started and not self.disconnected:
                await self._answer_500()
            elif not self.response_complete and not self.disconnected:
                self.transport.close()

    async def _answer_500(self) -> None:
        body = b'{"error":"Internal Server Error","message":"The emulator failed"}'
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await self.send({"type": "http.response.start", "status": 500, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def send(self, message: dict[str, Any]) -> None:
        import h11

        connection = self.connection
        if not connection._writable.is_set() and not self.disconnected:
            await connection.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            self.response_started = True
            status = message["status"]
            headers = [(b"date", http_date()), *message.get("headers", ())]
            if self.waiting_for_100_continue:
                # answered before asking for the body: the client may never send it, so
                # what follows on this connection cannot be told from it (RFC 9110, 10.1.1)
                self.waiting_for_100_continue = False
                self.keep_alive = False
                if not any(name.lower() == b"connection" for name, _ in headers):
                    headers.append((b"connection", b"close"))
            # kept until the body comes, so that head and body leave in one write
            self._head = self.conn.send(
                h11.Response(status_code=status, headers=headers, reason=_reason(status))
            )
            return
        if self.response_complete:
            raise RuntimeError(f"{kind!r} sent after the response was complete")
        if kind != "http.response.body":
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        body = b"" if self._headless else message.get("body", b"")
        out = [self._head]
        self._head = b""
        if body:
            out.append(self.conn.send(h11.Data(data=body)))
        if not message.get("more_body", False):
            self.response_complete = True
            self.message_event.set()
            out.append(self.conn.send(h11.EndOfMessage()))
        self.transport.write(b"".join(out))
        if self.response_complete:
            if self.conn.our_state is h11.MUST_CLOSE or not self.keep_alive:
                connection.finish()
            connection.on_response_complete()

    async def receive(self) -> dict[str, Any]:
        import h11

        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(
                self.conn.send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
            )
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.connection.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": bytes(self.body), "more_body": self.more_body}
        self.body = bytearray()
        return message


class Arrival(asyncio.Protocol):
    """A new connection until its first bytes arrive: it counts against ``guard``'s cap and
    has its header deadline, but costs next to nothing, so a flood of idle connections builds
    no HTTP parser; the first bytes hand the connection to ``make_real()`` (the HTTP
    protocol), deadline included."""

    def __init__(
        self,
        guard: ConnectionGuard,
        make_real: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._guard = guard
        self._make_real = make_real
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._when = 0.0
        self._real: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard.admit(self):
            _log.warning(
                "closed a new connection: all %d connections are busy answering",
                self._guard.max_connections,
            )
            self._transport.abort()
            return
        self._when = self._loop.time() + self._guard.header_timeout
        self._deadline = self._loop.call_at(self._when, self._too_slow)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        self._disarm()
        real = self._real = self._make_real()
        real.adopt(self._when, self)  # this Arrival keeps its place in the guard
        transport.set_protocol(real)
        real.connection_made(transport)
        real.data_received(data)

    def eof_received(self) -> bool | None:
        return None  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._guard.forget(self)

    @property
    def handed_over(self) -> bool:
        """Whether the HTTP protocol has taken the connection over."""
        return self._real is not None

    def still_receiving(self) -> bool:
        return self._real is not None and bool(self._real.still_receiving())

    def drop(self) -> None:
        if self._real is not None:
            self._real.drop()
            return
        self._disarm()
        if self._transport is not None:
            self._transport.close()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self._guard.counts["timed out"] += 1
        if self._transport is not None:
            self._transport.close()  # nothing arrived: nothing to answer


class Listener:
    """Accepts connections on a listening socket and hands each to a new protocol, as
    ``loop.create_server`` does; see the module docstring for why it is our own."""

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sock = sock
        self._factory = factory
        self._loop = loop
        self._reading = False
        self._resume: asyncio.TimerHandle | None = None
        self._closed = False
        self._starting: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._resume = None
        if not self._closed and not self._reading:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._reading = True

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    _log.error("accepting a connection failed: %s", exc, key=("accept", exc.errno))
                else:
                    _log.warning(
                        "out of resources accepting a connection (%s); accepting pauses for %g s",
                        exc.strerror,
                        ACCEPT_PAUSE,
                        key=("accept", exc.errno),
                    )
                self._pause()
                return
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._connect(conn))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception as exc:  # the client left at once, or no descriptor: drop it
            conn.close()
            _log.warning("a new connection failed: %s", exc, key=("connect", type(exc)))

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False
        if self._resume is None and not self._closed:
            self._resume = self._loop.call_later(ACCEPT_PAUSE, self.start)

    def close(self) -> None:
        self._closed = True
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._starting, return_exceptions=True)


class Server:
    """Binds ``host:port`` (port 0: a free one) and serves ``app`` until :meth:`stop`, with a
    header deadline of ``header_timeout`` seconds and at most ``max_connections`` connections
    (``None``: :func:`default_max_connections`)."""

    def __init__(
        self,
        app: Any,
        loop: LoopThread,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        header_timeout: float = 10.0,
        max_connections: int | None = None,
    ) -> None:
        self._app = app
        self._loop = loop
        self._host = host
        self._port = port
        self._served: Served | None = None
        self._listener: Listener | None = None
        self._socket: socket.socket | None = None
        self.port = 0
        self.guard = ConnectionGuard(max_connections or default_max_connections(), header_timeout)

    def start(self, timeout: float = 10.0) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it every response waits ~40 ms for a delayed ACK between headers and body.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        try:
            self._loop.run(self._begin(sock), timeout)
        except BaseException:
            sock.close()
            self._socket = None
            raise

    async def _begin(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        served = self._served = Served(self._app, self.guard, loop)
        guard = self.guard

        def arrival() -> asyncio.Protocol:
            return Arrival(guard, lambda: Connection(served), loop)

        self._listener = Listener(sock, arrival, loop)
        self._listener.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let answers in progress finish (up to :data:`GRACEFUL_SECONDS`),
        then close every connection."""
        if self._served is None:
            return
        try:
            self._loop.run(self._shutdown(), timeout)
        finally:
            if self._socket is not None:
                self._socket.close()
            self._served = None
            self._listener = None
            self._socket = None

    async def _shutdown(self) -> None:
        served = self._served
        assert served is not None
        if self._listener is not None:
            self._listener.close()
        for connection in list(served.connections):
            connection.shutdown()
        for waiting in list(self.guard.waiting):
            if isinstance(waiting, Arrival) and not waiting.handed_over:
                waiting.drop()  # no byte yet: no connection to finish
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GRACEFUL_SECONDS
        while served.connections or served.tasks:
            if loop.time() >= deadline:
                for task in list(served.tasks):
                    task.cancel()
                for connection in list(served.connections):
                    connection.transport.abort()
                break
            await asyncio.sleep(0.005)
        if self._listener is not None:
            await self._listener.wait_closed()
        for waiting in list(self.guard.waiting):  # admitted while the last accepts finished
            if isinstance(waiting, Arrival) and not waiting.handed_over:
                waiting.drop()
