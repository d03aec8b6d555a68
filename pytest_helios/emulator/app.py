"""The emulator's Starlette app: the two documented endpoints and the admin API.

Built by :func:`build_app` around an :class:`~pytest_helios.emulator.core.EmulatorCore`; served
by uvicorn on loopback or driven in-process through an httpx transport.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pytest_helios.facts import INVALID_KEY

from .request_checks import BadRequest, FieldProblem, parse_json, schema_errors, webhook_url_error

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from .core import EmulatorCore
    from .state import Account


class _TooLarge(Exception):
    pass


def build_app(core: EmulatorCore) -> Starlette:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import pytest_helios.payloads.builders as payloads

    from .admin import admin_routes

    async def read_body(request: Request) -> bytes:
        limit = core.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def accept(request: Request, endpoint: str) -> Response:
        scope: Account | None = None
        account_id = request.path_params.get("account_id")
        if account_id is not None:
            scope = core.registry.accounts.get(account_id)
            if scope is None:
                return error(404, "Not Found", f"No account {account_id!r} on this emulator")
        auth = core.registry.authenticate(request.headers.get("x-api-key"), scope)
        if auth.account is None:
            return JSONResponse(payloads.unauthorized_error(auth.reason or INVALID_KEY), 401)
        account = auth.account
        agent = "lab-results" if endpoint == "lab-results" else None
        try:
            raw = await read_body(request)
            body = parse_json(raw, request.headers.get("content-type"))
            if endpoint == "agent" and isinstance(body, dict):
                kind = body.get("agentType")
                agent = kind if kind in ("light", "deep") else None
            problems = schema_errors(f"{endpoint}-request", body)
            url = body.get("webhookUrl") if isinstance(body, dict) else None
            if isinstance(url, str) and not any(p.field == "webhookUrl" for p in problems):
                reason = webhook_url_error(url, require_https=core.config.require_https)
                if reason is not None:
                    problems.append(FieldProblem("webhookUrl", reason))
            if problems:
                raise BadRequest(problems)
        except _TooLarge:
            limit = core.config.max_body_bytes
            return error(413, "Payload Too Large", f"Request body exceeds {limit} bytes")
        except BadRequest as exc:
            headers = core.concurrency.slots(account, agent).headers() if agent else None
            return JSONResponse(exc.body(), 400, headers=headers)
        assert agent is not None  # a valid body names its agent
        admitted, run_id, slots = core.admit(account, agent, body["webhookUrl"], raw)
        if not admitted:
            return JSONResponse(
                payloads.rate_limit_error(agent, slots.active, slots.limit),
                429,
                headers={**slots.headers(), "Retry-After": "60"},
            )
        return JSONResponse(
            payloads.accepted_response(run_id),
            200,
            headers=slots.headers(),
        )

    async def agent_endpoint(request: Request) -> Response:
        return await accept(request, "agent")

    async def lab_results_endpoint(request: Request) -> Response:
        return await accept(request, "lab-results")

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        message = f"No route for {request.method} {path}"
        if _ENDPOINT_WITH_SLASH.fullmatch(path):
            message += f"; the endpoint is {path.rstrip('/')} (no trailing slash)"
        return error(404, "Not Found", message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "POST")
            return error(
                405,
                "Method Not Allowed",
                f"{request.method} is not allowed on {request.url.path}; use {allowed}",
                headers={"Allow": allowed},
            )
        return error(exc.status_code, "Error", str(exc.detail))

    async def crash(request: Request, exc: Exception) -> Response:
        return error(500, "Internal Server Error", f"The emulator failed: {type(exc).__name__}")

    routes = [
        Route("/api/v1/agent", agent_endpoint, methods=["POST"]),
        Route("/api/v1/lab-results", lab_results_endpoint, methods=["POST"]),
        Route("/accounts/{account_id}/api/v1/agent", agent_endpoint, methods=["POST"]),
        Route("/accounts/{account_id}/api/v1/lab-results", lab_results_endpoint, methods=["POST"]),
        *admin_routes(core),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, HTTPException: http_error, Exception: crash},
    )
    # A path with a trailing slash is an unknown path (a JSON 404, naming the endpoint when it
    # is one), not a bodiless 307 redirect that HTTP clients do not follow for a POST.
    app.router.redirect_slashes = False
    return app


_ENDPOINT_WITH_SLASH = re.compile(r"(/accounts/[^/]+)?/api/v1/(agent|lab-results)/+")


def error(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error body shaped like the documented 429 one: ``{"error", "message"}``."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": title, "message": message}, status, headers=headers)
