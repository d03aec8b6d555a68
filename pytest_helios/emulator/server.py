"""uvicorn serving the emulator's app on a loopback port, on the emulator's event loop."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from .loop import LoopThread


class Server:
    """Binds ``host:port`` (port 0: a free one) and serves ``app`` until :meth:`stop`."""

    def __init__(self, app: Any, loop: LoopThread, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._loop = loop
        self._host = host
        self._port = port
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    def start(self, timeout: float = 10.0) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it every response waits ~40 ms for a delayed ACK between headers and body.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
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
        self._server.should_exit = True
        if self._task is not None:
            self._loop.run(_wait(self._task), timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._task = None
        self._socket = None


async def _wait(task: asyncio.Task[None]) -> None:
    await asyncio.gather(task, return_exceptions=True)
