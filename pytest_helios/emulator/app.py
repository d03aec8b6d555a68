"""The emulator's ASGI app: the two documented endpoints and the admin API.

:class:`ApiEndpoints` answers the endpoints, at the emulator's base URL and at each account's, and
gives JSON answers to unknown paths, wrong methods and crashes; :class:`~.admin.AdminApi` answers
under ``/_emulator``. :func:`build_app` puts both around an
:class:`~pytest_helios.emulator.core.EmulatorCore`; :mod:`.server` serves the app on loopback,
or an httpx transport drives it in-process.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

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
from pytest_helios.payloads.builders import accepted_response, serialize
from pytest_helios.payloads.openapi import openapi_document

from .admin import ADMIN_PREFIX, AdminApi
from .asgi import RAW_SEND, App, JSONResponse, Request, Response, Route
from .concurrency import Slots
from .request_checks import BadRequest, FieldProblem, parse_json, schema_problems
from .responses import (
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    bad_request,
    body_timeout,
    client_gone,
    error,
    read_body,
)

if TYPE_CHECKING:
    from .core import EmulatorCore
    from .state import Account, RequestFault

#: An account's base URL is the emulator's with this added; the endpoints live under both.
ACCOUNT_PREFIX = "/accounts/{account_id}"
#: The 429's ``Retry-After`` (docs/emulator.md, "Concurrency"), in seconds.
RETRY_AFTER_SECONDS = "60"
#: Where the emulator serves the OpenAPI document, at its base URL and at each account's.
OPENAPI_PATH = "/openapi.json"

_ENDPOINT_WITH_SLASH = re.compile(
    r"(/accounts/[^/]+)?(?:" + "|".join(re.escape(path) for path in ENDPOINT_PATHS) + r")/+"
)


def build_app(core: EmulatorCore) -> App:
    """The whole app: the endpoints, the admin API and the JSON error answers.

    A path with a trailing slash is an unknown path (a JSON 404, naming the endpoint when it is
    one), not a bodiless redirect that HTTP clients do not follow for a POST.
    """
    endpoints = ApiEndpoints(core)
    return App(
        [*endpoints.routes(), *AdminApi(core).routes()],
        not_found=endpoints.not_found,
        not_allowed=endpoints.not_allowed,
        crash=endpoints.crash,
        on_crash=_log_crash,
    )


def _log_crash(exc: Exception) -> None:
    """A handler's exception, with its traceback, a few times per exception type."""
    from .loop import throttled_logger

    throttled_logger("pytest_helios.emulator").error(
        "the emulator failed answering a request", exc_info=exc, key=("crash", type(exc))
    )


#: A request body larger than this is parsed and checked on a worker thread, off the loop.
OFFLOAD_BYTES = 64 * 1024


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
        ] + [Route(prefix + OPENAPI_PATH, self.openapi) for prefix in ("", ACCOUNT_PREFIX)]

    async def openapi(self, request: Request) -> Response:
        """``GET /openapi.json``: the API's OpenAPI 3.1 document, its ``servers`` naming the
        base URL it was asked at (the emulator's, or an account's)."""
        account_id = request.path_params.get("account_id")
        if account_id is not None and account_id not in self.core.registry.accounts:
            return error(404, "Not Found", f"No account {account_id!r} on this emulator")
        server = request.base_url().removesuffix(OPENAPI_PATH)
        return JSONResponse(openapi_document(server))

    async def agent(self, request: Request) -> Response:
        """``POST /api/v1/agent``: an EHR Agent run, light or deep as ``agentType`` says."""
        return await self._accept(request, "agent-request", None)

    async def lab_results(self, request: Request) -> Response:
        """``POST /api/v1/lab-results``: a Lab Results Agent run."""
        return await self._accept(request, "lab-results-request", "lab-results")

    async def not_found(self, request: Request) -> Response:
        """404 naming the method and path; for an endpoint with a trailing slash, the endpoint."""
        path = request.path
        message = f"No route for {request.method} {path}"
        if _ENDPOINT_WITH_SLASH.fullmatch(path):
            message += f"; the endpoint is {path.rstrip('/')} (no trailing slash)"
        return error(404, "Not Found", message, headers=self._api_slots(path))

    async def not_allowed(self, request: Request, allowed: str) -> Response:
        """405 naming the allowed methods."""
        return error(
            405,
            "Method Not Allowed",
            f"{request.method} is not allowed on {request.path}; use {allowed}",
            headers={"Allow": allowed, **self._api_slots(request.path)},
        )

    def _slots(self, account: Account | None, agent: Agent | None) -> dict[str, str]:
        """The ``X-Concurrent-*`` headers every answer of the API carries (documented: "every
        response"): the account's slots for the agent, ``light``'s on the EHR endpoint before
        its ``agentType`` is known; with no account known (a 401, a 404) the limit with none
        active, since the answer counts no one's runs."""
        if account is None:
            return Slots(self.core.concurrency.limit, 0).headers()
        return self.core.concurrency.slots(account, agent or "light").headers()

    def _api_slots(self, path: str) -> dict[str, str]:
        """No account's slots on an API path; nothing on the admin API's."""
        return {} if path.startswith(ADMIN_PREFIX) else self._slots(None, None)

    async def crash(self, request: Request, exc: Exception) -> Response:
        """500 naming the type of the exception that escaped a handler."""
        return error(500, "Internal Server Error", f"The emulator failed: {type(exc).__name__}")

    async def _accept(self, request: Request, schema: str, agent: Agent | None) -> Response:
        """Authenticate, check the body against ``schema`` and admit a run of ``agent`` (for
        the EHR endpoint: the body's). 200, or 401, 404, 413, 408, 400 or 429 saying why not."""
        account = self._authenticate(request, agent)
        if isinstance(account, Response):
            return account
        config = self.core.config
        try:
            raw = await read_body(request, config.max_body_bytes, config.body_timeout)
        except BodyTooLarge:
            limit = config.max_body_bytes
            message = f"Request body exceeds {limit} bytes"
            return error(413, "Payload Too Large", message, self._slots(account, agent))
        except BodyTimeout:
            return body_timeout(config.body_timeout)
        except ClientGone:
            return client_gone()
        content_type = request.headers.get("content-type")
        if len(raw) > OFFLOAD_BYTES:  # a large body is parsed and checked off the loop
            body, agent, problem = await self.core.offload(
                self._inspect, raw, content_type, schema, agent
            )
        else:
            body, agent, problem = self._inspect(raw, content_type, schema, agent)
        if problem is not None or agent is None:
            problem = problem or BadRequest([FieldProblem("agentType", "is required")])
            return bad_request(problem, self._slots(account, agent))
        fault = account.take_request_fault()
        if fault is not None:
            faulty = await answer_fault(request, account, fault)
            if faulty is not None:
                return faulty
        return await self._admit(account, agent, body, raw)

    def _inspect(
        self, raw: bytes, content_type: str | None, schema: str, agent: Agent | None
    ) -> tuple[Any, Agent | None, BadRequest | None]:
        """The parsed body, its agent (the endpoint's, or the body's valid ``agentType``) and
        what is wrong with it, if anything. Thread-safe: it reads only the configuration."""
        try:
            body = parse_json(raw, content_type)
        except BadRequest as problem:
            return None, agent, problem
        agent = agent or ehr_agent_of(body)
        return body, agent, self._check(schema, body)

    def _authenticate(self, request: Request, agent: Agent | None) -> Account | Response:
        """The account whose key the request carries, or the 404 or 401 refusing it."""
        scope: Account | None = None
        account_id = request.path_params.get("account_id")
        if account_id is not None:
            scope = self.core.registry.accounts.get(account_id)
            if scope is None:
                message = f"No account {account_id!r} on this emulator"
                return error(404, "Not Found", message, self._slots(None, agent))
        auth = self.core.registry.authenticate(request.headers.get(API_KEY_HEADER), scope)
        if auth.account is None:
            refusal = payloads.unauthorized_error(auth.reason or INVALID_KEY)
            return JSONResponse(refusal, 401, headers=self._slots(None, agent))
        return auth.account

    def _check(self, schema: str, body: Any) -> BadRequest | None:
        """What the request schema refuses in ``body`` (every field, within the check's
        bounds) and a ``webhookUrl`` that is no webhook URL; for a request that is otherwise
        valid, a ``webhookUrl`` the emulator may not deliver to (``WebhookTargets``)."""
        unknown = self.core.config.unknown_fields
        problems, stopped = schema_problems(schema, body, unknown_fields=unknown)
        url = body.get("webhookUrl") if isinstance(body, dict) else None
        if isinstance(url, str) and not any(p.field == "webhookUrl" for p in problems):
            targets = self.core.targets
            reason = targets.url_error(url)
            if reason is None and not problems:
                reason = targets.sandbox_error(url, self.core.own_port)
            if reason is not None:
                problems.append(FieldProblem("webhookUrl", reason))
        return BadRequest(problems, stopped=stopped) if problems else None

    async def _admit(self, account: Account, agent: Agent, body: Any, raw: bytes) -> Response:
        """200 with the run id, or 429 at the concurrency limit; both with the slot headers."""
        url = body["webhookUrl"]
        admitted, run_id, slots = await self.core.admit_when_free(account, agent, url, raw)
        if not admitted:
            return JSONResponse(
                payloads.rate_limit_error(agent, slots.active, slots.limit),
                429,
                headers={**slots.headers(), "Retry-After": RETRY_AFTER_SECONDS},
            )
        return JSONResponse(payloads.accepted_response(run_id), 200, headers=slots.headers())


# --- fault injection (Account.fault_requests; docs/emulator.md, "Fault injection") -------------


async def answer_fault(request: Request, account: Account, fault: RequestFault) -> Response | None:
    """The answer ``fault`` gives in place of an acceptance; ``None`` for ``slow-accept``,
    once it has waited (the run is then accepted as usual)."""
    kind = fault.fault
    if kind == "status":
        return error(
            fault.status,
            _phrase(fault.status),
            f"The emulator answers {fault.status} (fault injection: fault_requests)",
        )
    if kind == "slow-accept":
        await _held(account, fault, None)
        return None
    if kind == "timeout":
        await _held(account, fault, request)
        return error(
            504, "Gateway Timeout", "The emulator held this answer (fault injection: timeout)"
        )
    body = serialize(accepted_response(str(uuid.uuid4())))
    if kind == "malformed":
        return Response(body[: len(body) // 2], 200, media_type="application/json")
    if kind == "no-run-id":
        return JSONResponse(
            {"status": "accepted", "message": "Request accepted. Results will be delivered to "
             "your webhook."}, 200
        )  # fmt: skip
    connection = _connection(request)
    if connection is None:  # an in-process transport: no connection to reset or cut
        return error(502, "Bad Gateway", f"The connection was lost (fault injection: {kind})")
    transport, cycle = connection
    if kind == "truncated":
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        transport.write(head.encode() + body[: len(body) // 2])
        transport.close()
    else:  # reset: SO_LINGER 0 makes closing send a TCP RST
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    cycle.disconnected = True  # the server sends nothing more on this connection
    return Response(status_code=200)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


def _connection(request: Request) -> tuple[Any, Any] | None:
    """The server's transport and request cycle of ``request``'s connection, when served."""
    cycle = getattr(request.scope.get(RAW_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        return None
    return transport, cycle


async def _held(account: Account, fault: RequestFault, request: Request | None) -> None:
    """Wait ``fault.delay`` seconds, until the account's faults end, or (with ``request``)
    until its client goes away, whichever comes first."""
    ended = asyncio.Event()
    account.hold(ended, fault)
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(ended.wait())]
    if request is not None:
        waits.append(asyncio.ensure_future(_disconnected(request)))
    try:
        await asyncio.wait(waits, timeout=fault.delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        account.release(ended)


async def _disconnected(request: Request) -> None:
    """Return once the client of ``request`` (whose body has been read) has gone."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
