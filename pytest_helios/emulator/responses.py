"""What both parts of the emulator's HTTP layer share: the API endpoints (``app``) and the admin
API (``admin``): the JSON error answers, and reading a request body within a size and a time
limit. A leaf: it imports neither of them.

Like the rest of the HTTP layer it is imported only when an emulator starts.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .asgi import ClientDisconnect, JSONResponse, Request, Response

if TYPE_CHECKING:
    from .request_checks import BadRequest


def error(
    status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON error body shaped like the documented 429 one: ``{"error", "message"}``."""
    return JSONResponse({"error": title, "message": message}, status, headers=headers)


def bad_request(problem: BadRequest, headers: dict[str, str] | None = None) -> JSONResponse:
    """The 400 ``validation-error`` body naming every bad field of ``problem``."""
    return JSONResponse(problem.body(), 400, headers=headers)


class BodyTooLarge(Exception):
    """A request body longer than the limit."""


class BodyTimeout(Exception):
    """A request body that did not arrive in time."""


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body; :class:`BodyTooLarge` as soon as it is known to exceed ``limit`` bytes,
    :class:`BodyTimeout` when it has not arrived in full after ``timeout`` seconds (a client
    trickling a body holds a connection no longer than that), :class:`ClientGone` when the
    client went away first."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge

    async def collect() -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise BodyTimeout from None
    except ClientDisconnect:
        raise ClientGone from None


def body_timeout(timeout: float) -> JSONResponse:
    """408 for a body that did not arrive in time; the connection is closed after it."""
    return error(
        408,
        "Request Timeout",
        f"The request body did not arrive within {timeout:g} s",
        headers={"Connection": "close"},
    )


def client_gone() -> Response:
    """The answer to a client that has gone: never sent, but an ASGI app must answer."""
    return Response(status_code=400, headers={"Connection": "close"})
