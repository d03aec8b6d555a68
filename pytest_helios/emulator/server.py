"""uvicorn serving the emulator's app on a loopback port, on the emulator's event loop.

The emulator is shared by every test of a session and by clients in other languages, so no
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
- **bounded logging**: uvicorn's per-connection warnings go through a
  :class:`~pytest_helios.emulator.loop.ThrottledLogger`, a few lines per cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from .loop import LoopThread, throttled_logger

#: Connections accepted per readiness event of the listening socket.
ACCEPT_BATCH = 64
#: Seconds accepting pauses when the process is out of file descriptors or memory.
ACCEPT_PAUSE = 0.5
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

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


def _timeout_answer(seconds: float) -> bytes:
    body = json.dumps(
        {
            "error": "Request Timeout",
            "message": f"The request headers did not arrive within {seconds:g} s",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


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


def protocol_class(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol with ``guard``'s header deadline and connection cap."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    timed_out = _timeout_answer(guard.header_timeout)

    class EmulatorProtocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # uvicorn's warnings, and the cycle's errors (it is handed this logger), a few
            # lines per cause: it calls only what ThrottledLogger offers
            self.logger = cast(logging.Logger, throttled_logger("uvicorn.error"))
            self._deadline: asyncio.TimerHandle | None = None
            self._counted_cycle: Any = None
            self._adopted: float | None = None
            #: what the guard knows this connection by: itself, or the Arrival it took over
            self._handle: Any = self

        def adopt(self, deadline: float, handle: Any) -> None:
            """Take over a connection an :class:`Arrival` admitted (``handle``, which keeps its
            place among the guard's connections) and its header deadline (loop time); before
            :meth:`connection_made`."""
            self._adopted = deadline
            self._handle = handle

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self._adopted is not None:
                self._deadline = self.loop.call_at(self._adopted, self._too_slow)
                return
            if not guard.admit(self):
                _log.warning(
                    "closed a new connection: all %d connections are busy answering",
                    guard.max_connections,
                )
                self.transport.abort()
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            guard.forget(self._handle)
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and self.cycle is not self._counted_cycle:
                self._counted_cycle = self.cycle  # a request's headers have arrived
                self._disarm()
                guard.started(self._handle)

        def on_response_complete(self) -> None:
            # before uvicorn's own, which may start a pipelined request at once
            if not self.transport.is_closing():
                guard.finished(self._handle)
                self._arm()
            super().on_response_complete()

        def still_receiving(self) -> bool:
            """Whether the app waits for more of this connection's request body."""
            cycle = self.cycle
            return cycle is not None and cycle.more_body and not cycle.response_started

        def drop(self) -> None:
            """Close the connection to make room for another."""
            self._disarm()
            self.transport.close()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(guard.header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            guard.counts["timed out"] += 1
            started, _closed = self.conn.trailing_data
            if started:  # part of a request arrived: say why it is not answered
                self.transport.write(timed_out)
            self.transport.close()

    return EmulatorProtocol


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


def _server_class() -> type:
    import uvicorn

    class EmulatorServer(uvicorn.Server):
        """uvicorn's server with :class:`Listener` in place of ``loop.create_server``."""

        guard: ConnectionGuard

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await self.lifespan.startup()
            config = self.config
            loop = asyncio.get_running_loop()

            def create_protocol() -> asyncio.Protocol:
                make: Any = config.http_protocol_class
                protocol: asyncio.Protocol = make(
                    config=config,
                    server_state=self.server_state,
                    app_state=self.lifespan.state,
                    _loop=loop,
                )
                return protocol

            guard: ConnectionGuard = self.guard

            def arrival() -> asyncio.Protocol:
                return Arrival(guard, create_protocol, loop)

            listeners = [Listener(sock, arrival, loop) for sock in sockets or []]
            for listener in listeners:
                listener.start()
            # uvicorn's shutdown calls close() and wait_closed() on these, as on asyncio's
            self.servers = cast(Any, listeners)
            self.wake = asyncio.Event()
            self.started = True

        async def main_loop(self) -> None:
            """uvicorn's loop, but woken at once by :meth:`Server.stop` (uvicorn looks every
            0.1 s, which every session paid at its end)."""
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 0.1)
                should_exit = await self.on_tick(counter)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            """uvicorn's graceful shutdown without its fixed 0.1 s pauses: stop accepting, ask
            every connection to close, wait for them (looking every 5 ms) up to the graceful
            timeout, then cancel what is left."""
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            state = self.server_state
            for connection in list(state.connections):
                connection.shutdown()
            for waiting in list(self.guard.waiting):
                if isinstance(waiting, Arrival) and not waiting.handed_over:
                    waiting.drop()  # no byte yet, so not uvicorn's to close
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
            while (state.connections or state.tasks) and not self.force_exit:
                if loop.time() >= deadline:
                    for task in list(state.tasks):
                        task.cancel()
                    break
                await asyncio.sleep(0.005)
            for server in self.servers:
                await server.wait_closed()
            if not self.force_exit:
                await self.lifespan.shutdown()

    return EmulatorServer


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
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self.port = 0
        self.guard = ConnectionGuard(max_connections or default_max_connections(), header_timeout)

    def start(self, timeout: float = 10.0) -> None:
        import uvicorn

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
        config = uvicorn.Config(
            self._app,
            http=protocol_class(self.guard),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = _server_class()(config)
        self._server.guard = self.guard
        self._loop.run(self._begin(sock), timeout)

    async def _begin(self, sock: socket.socket) -> None:
        server = self._server
        self._task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()  # re-raise what stopped it
                raise RuntimeError("the emulator's server stopped while starting")
            await asyncio.sleep(0.001)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None:
            return
        server = self._server
        server.should_exit = True
        wake = getattr(server, "wake", None)
        if wake is not None:
            self._loop.call_soon(wake.set)
        if self._task is not None:
            self._loop.run(_wait(self._task), timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._task = None
        self._socket = None


async def _wait(task: asyncio.Task[None]) -> None:
    await asyncio.gather(task, return_exceptions=True)
