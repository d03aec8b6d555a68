"""In-process httpx transports into the emulator's app: no socket, same behaviour."""

from __future__ import annotations

from typing import Any

import httpx

from .loop import LoopThread


class SyncASGITransport(httpx.BaseTransport):
    """A sync transport that runs each request through the ASGI app on the emulator's loop."""

    def __init__(self, loop: LoopThread, app: Any) -> None:
        self._loop = loop
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def send() -> httpx.Response:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._inner.handle_async_request(inner)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return self._loop.run(send())
