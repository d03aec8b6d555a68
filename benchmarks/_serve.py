"""Serve a benchmark's ASGI app with uvicorn on a free loopback port, printing the port first."""

from __future__ import annotations

import socket
from typing import Any


def serve(app: Any) -> None:
    # proto IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (no 40 ms stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves
    print(sock.getsockname()[1], flush=True)

    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
