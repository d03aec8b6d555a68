"""The emulator's Starlette app: the two documented endpoints and the admin API.

:class:`ApiEndpoints` answers the endpoints, at the emulator's base URL and at each account's, and
gives JSON answers to unknown paths, wrong methods and crashes; :class:`~.admin.AdminApi` answers
under ``/_emulator``. :func:`build_app` puts both around an
:class:`~pytest_helios.emulator.core.EmulatorCore`; uvicorn serves the app on loopback, or an
httpx transport drives it in-process.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import pytest_helios.payloads.builders as payloads
from pytest_helios.facts import (
    AGENT_PATH,
    API_KEY_HEADER,
    EHR_AGENT_TYPES,
    ENDPOINT_PATHS,
    INVALID_KEY,
    LAB_RESULTS_PATH,
    Agent,
)

from .admin import AdminApi
from .request_checks import BadRequest, FieldProblem, parse_json, schema_errors, webhook_url_error
from .responses import bad_request, error

if TYPE_CHECKING:
    from .core import EmulatorCore
    from .state import Account

#: An account's base URL is the emulator's with this added; the endpoints live under both.
ACCOUNT_PREFIX = "/accounts/{account_id}"
#: The 429's ``Retry-After`` (docs/emulator.md, "Concurrency"), in seconds.
RETRY_AFTER_SECONDS = "60"

_ENDPOINT_WITH_SLASH = re.compile(
    r"(/accounts/[^/]+)?(?:" + "|".join(re.escape(path) for path in ENDPOINT_PATHS) + r")/+"
)


def build_app(core: EmulatorCore) -> Starlette:
    """The whole app: the endpoints, the admin API and the JSON error answers."""
    endpoints = ApiEndpoints(core)
    app = Starlette(
        routes=[*endpoints.routes(), *AdminApi(core).routes()],
        exception_handlers={
            404: endpoints.not_found,
            HTTPException: endpoints.http_error,
            Exception: endpoints.crash,
        },
    )
    # A path with a trailing slash is an unknown path (a JSON 404, naming the endpoint when it
    # is one), not a bodiless 307 redirect that HTTP clients do not follow for a POST.
    app.router.redirect_slashes = False
    return app


class BodyTooLarge(Exception):
    """A request body longer than the emulator's ``max_body_bytes``."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or :class:`BodyTooLarge` as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def ehr_agent_of(body: object) -> Agent | None:
    """The EHR agent a request body names in ``agentType``, if it names a valid one."""
    kind = body.get("agentType") if isinstance(body, dict) else None
    return next((agent for agent in EHR_AGENT_TYPES if agent == kind), None)


class ApiEndpoints:
    """The documented endpoints around an emulator's core, one method each, and the answers
    to requests no route takes."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Both endpoints at the emulator's base URL and at every account's."""
        return [
            Route(prefix + path, endpoint, methods=["POST"])
            for prefix in ("", ACCOUNT_PREFIX)
            for path, endpoint in ((AGENT_PATH, self.agent), (LAB_RESULTS_PATH, self.lab_results))
        ]

    async def agent(self, request: Request) -> Response:
        """``POST /api/v1/agent``: an EHR Agent run, light or deep as ``agentType`` says."""
        return await self._accept(request, "agent-request", None)

    async def lab_results(self, request: Request) -> Response:
        """``POST /api/v1/lab-results``: a Lab Results Agent run."""
        return await self._accept(request, "lab-results-request", "lab-results")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """404 naming the method and path; for an endpoint with a trailing slash, the endpoint."""
        path = request.url.path
        message = f"No route for {request.method} {path}"
        if _ENDPOINT_WITH_SLASH.fullmatch(path):
            message += f"; the endpoint is {path.rstrip('/')} (no trailing slash)"
        return error(404, "Not Found", message)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """405 naming the allowed method; any other HTTP error as JSON."""
        if not isinstance(exc, HTTPException):
            return await self.crash(request, exc)
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "POST")
            return error(
                405,
                "Method Not Allowed",
                f"{request.method} is not allowed on {request.url.path}; use {allowed}",
                headers={"Allow": allowed},
            )
        return error(exc.status_code, "Error", str(exc.detail))

    async def crash(self, request: Request, exc: Exception) -> Response:
        """500 naming the type of the exception that escaped a handler."""
        return error(500, "Internal Server Error", f"The emulator failed: {type(exc).__name__}")

    async def _accept(self, request: Request, schema: str, agent: Agent | None) -> Response:
        """Authenticate, check the body against ``schema`` and admit a run of ``agent`` (for
        the EHR endpoint: the body's). 200, or 401, 404, 413, 400 or 429 saying why not."""
        account = self._authenticate(request)
        if isinstance(account, Response):
            return account
        try:
            raw = await read_body(request, self.core.config.max_body_bytes)
            body = parse_json(raw, request.headers.get("content-type"))
            agent = agent or ehr_agent_of(body)
            self._check(schema, body)
            if agent is None:  # the schema requires a valid agentType: never here
                raise BadRequest([FieldProblem("agentType", "is required")])
        except BodyTooLarge:
            limit = self.core.config.max_body_bytes
            return error(413, "Payload Too Large", f"Request body exceeds {limit} bytes")
        except BadRequest as exc:
            slots = self.core.concurrency.slots(account, agent) if agent else None
            return bad_request(exc, None if slots is None else slots.headers())
        return self._admit(account, agent, body, raw)

    def _authenticate(self, request: Request) -> Account | Response:
        """The account whose key the request carries, or the 404 or 401 refusing it."""
        scope: Account | None = None
        account_id = request.path_params.get("account_id")
        if account_id is not None:
            scope = self.core.registry.accounts.get(account_id)
            if scope is None:
                return error(404, "Not Found", f"No account {account_id!r} on this emulator")
        auth = self.core.registry.authenticate(request.headers.get(API_KEY_HEADER), scope)
        if auth.account is None:
            return JSONResponse(payloads.unauthorized_error(auth.reason or INVALID_KEY), 401)
        return auth.account

    def _check(self, schema: str, body: Any) -> None:
        """Raise :class:`BadRequest` naming every field the request schema refuses, and the
        ``webhookUrl`` when it cannot receive webhooks."""
        problems = schema_errors(schema, body)
        url = body.get("webhookUrl") if isinstance(body, dict) else None
        if isinstance(url, str) and not any(p.field == "webhookUrl" for p in problems):
            reason = webhook_url_error(url, require_https=self.core.config.require_https)
            if reason is not None:
                problems.append(FieldProblem("webhookUrl", reason))
        if problems:
            raise BadRequest(problems)

    def _admit(self, account: Account, agent: Agent, body: Any, raw: bytes) -> Response:
        """200 with the run id, or 429 at the concurrency limit; both with the slot headers."""
        admitted, run_id, slots = self.core.admit(account, agent, body["webhookUrl"], raw)
        if not admitted:
            return JSONResponse(
                payloads.rate_limit_error(agent, slots.active, slots.limit),
                429,
                headers={**slots.headers(), "Retry-After": RETRY_AFTER_SECONDS},
            )
        return JSONResponse(payloads.accepted_response(run_id), 200, headers=slots.headers())
