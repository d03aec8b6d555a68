"""The JSON answers both parts of the emulator's HTTP layer give: the API endpoints (``app``) and
the admin API (``admin``). A leaf: it imports neither of them.

Like the rest of the HTTP layer it is imported only when an emulator starts (starlette with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

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
