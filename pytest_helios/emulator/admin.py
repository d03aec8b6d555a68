"""The emulator's HTTP admin API under ``/_emulator``: the Python API for clients in any language.

It plays the Helios dashboard (accounts, named keys, revoke, revoke all, webhook secret) and adds
what tests need (provider states, runs, the delivery log, waiting for deliveries). It has no
authentication: the emulator listens on loopback only. See docs/emulator.md for every route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .request_checks import BadRequest, FieldProblem, parse_json
from .state import Account, ApiKey

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from .core import EmulatorCore
    from .delivery import DeliveryAttempt
    from .runs import Run

PREFIX = "/_emulator"

Handler = Callable[["Request"], Awaitable["Response"]]


class _NotFound(Exception):
    pass


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "createdAt": _iso(key.created_at),
        "lastUsedAt": _iso(key.last_used_at),
        "revoked": key.revoked,
        "revokedAt": _iso(key.revoked_at),
    }


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "baseUrl": account.base_url,
        "createdAt": _iso(account.created_at),
        "keys": [{**key_json(k), "value": k.value} for k in account.list_keys()],
    }


def run_json(run: Run) -> dict[str, Any]:
    return {
        "runId": run.id,
        "accountId": run.account_id,
        "agent": run.agent,
        "status": run.status,
        "webhookUrl": run.webhook_url,
        "acceptedAt": _iso(run.accepted_at),
        "finishedAt": _iso(run.finished_at),
    }


def attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "runId": attempt.run_id,
        "sequenceNumber": attempt.sequence_number,
        "status": attempt.status,
        "url": attempt.url,
        "attempt": attempt.attempt,
        "sentAt": _iso(attempt.sent_at),
        "statusCode": attempt.status_code,
        "error": attempt.error,
        "ok": attempt.ok,
    }


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = [_JSON_NAMES[k] for k in kinds]
        if "number" in names:  # an integer is a number too
            names.remove("integer")
        expected = " or ".join(names)
        raise BadRequest([FieldProblem(name, f"expected {expected}")])
    return value


_JSON_NAMES = {str: "string", int: "integer", float: "number", type(None): "null"}


_REQUIRED = object()


def _required(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = _field(body, name, kind, _REQUIRED)
    if value is _REQUIRED:
        raise BadRequest([FieldProblem(name, "is required")])
    return value


def _apply_state(account: Account, body: dict[str, Any]) -> None:
    state = _required(body, "state", str)
    number = (int, float)
    if state == "fail-next-run":
        account.fail_next_run(
            _field(body, "message", str, "Processing failed"),
            code=_field(body, "code", (str, type(None)), "processing_failed"),
            at_step=_field(body, "atStep", (int, type(None)), None),
        )
    elif state == "exhaust-concurrency":
        account.exhaust_concurrency(
            _field(body, "agent", str, "light"), active=_field(body, "active", int, None)
        )
    elif state == "release-concurrency":
        account.release_concurrency(_field(body, "agent", str, None))
    elif state == "slow-deliveries":
        account.slow_deliveries(float(_required(body, "delay", number)))
    elif state == "drop-deliveries":
        account.drop_deliveries(_field(body, "count", int, 1))
    elif state == "regenerate-secret-during-next-run":
        account.regenerate_secret_during_next_run(_field(body, "afterStep", int, 1))
    else:
        raise BadRequest(
            [FieldProblem("state", f"unknown state {state!r}; valid states: {STATES}")]
        )


STATES = ", ".join(
    [
        "fail-next-run",
        "exhaust-concurrency",
        "release-concurrency",
        "slow-deliveries",
        "drop-deliveries",
        "regenerate-secret-during-next-run",
    ]
)


def admin_routes(core: EmulatorCore) -> list[Route]:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .app import error

    def guarded(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except _NotFound as exc:
                return error(404, "Not Found", str(exc))
            except BadRequest as exc:
                return JSONResponse(exc.body(), 400)
            except ValueError as exc:
                return JSONResponse(BadRequest([FieldProblem("", str(exc))]).body(), 400)

        return wrapped

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        parsed = parse_json(raw, request.headers.get("content-type"))
        if not isinstance(parsed, dict):
            raise BadRequest([FieldProblem("", "expected a JSON object")])
        return parsed

    def account_of(request: Request) -> Account:
        account_id = request.path_params["account_id"]
        account = core.registry.accounts.get(account_id)
        if account is None:
            raise _NotFound(f"No account {account_id!r} on this emulator")
        return account

    async def create_account(request: Request) -> Response:
        name = _required(await body_of(request), "name", str)
        account = core.registry.create_account(name)
        return JSONResponse({**account_json(account), "webhookSecret": account.webhook_secret}, 201)

    async def list_accounts(request: Request) -> Response:
        return JSONResponse([account_json(a) for a in core.registry])

    async def get_account(request: Request) -> Response:
        return JSONResponse(account_json(account_of(request)))

    async def create_key(request: Request) -> Response:
        account = account_of(request)
        key = account.create_key(_required(await body_of(request), "name", str))
        return JSONResponse({**key_json(key), "value": key.value}, 201)

    async def list_keys(request: Request) -> Response:
        return JSONResponse([key_json(k) for k in account_of(request).list_keys()])

    async def revoke_key(request: Request) -> Response:
        account = account_of(request)
        key_id = request.path_params["key_id"]
        try:
            account.revoke_key(key_id)
        except KeyError:
            raise _NotFound(f"Account {account.id} has no key {key_id!r}") from None
        (key,) = [k for k in account.list_keys() if k.id == key_id]
        return JSONResponse(key_json(key))

    async def revoke_all(request: Request) -> Response:
        return JSONResponse({"revoked": account_of(request).revoke_all_keys()})

    async def regenerate_secret(request: Request) -> Response:
        return JSONResponse({"webhookSecret": account_of(request).regenerate_webhook_secret()})

    async def set_state(request: Request) -> Response:
        account = account_of(request)
        _apply_state(account, await body_of(request))
        return JSONResponse({"accountId": account.id, "applied": True})

    async def list_runs(request: Request) -> Response:
        return JSONResponse([run_json(r) for r in list(core.runs.values())])

    async def get_run(request: Request) -> Response:
        run = core.runs.get(request.path_params["run_id"])
        if run is None:
            raise _NotFound(f"No run {request.path_params['run_id']!r} on this emulator")
        return JSONResponse(run_json(run))

    async def deliveries(request: Request) -> Response:
        run_id = request.query_params.get("runId")
        attempts = core.log.all(run_id)
        return JSONResponse([attempt_json(a) for a in attempts])

    async def wait(request: Request) -> Response:
        body = await body_of(request)
        timeout = float(_field(body, "timeout", (int, float), 10.0))
        run_id = _field(body, "runId", str, None)
        if run_id is not None and run_id not in core.runs:
            raise _NotFound(f"No run {run_id!r} on this emulator")
        deadline = time.monotonic() + timeout
        while not core.settled(run_id):
            if time.monotonic() >= deadline:
                what = f"Run {run_id} or its deliveries" if run_id else "Runs or deliveries"
                return error(408, "Request Timeout", f"{what} still pending after {timeout} s")
            await asyncio.sleep(0.005)
        return JSONResponse({"settled": True, "deliveries": len(core.log.all(run_id))})

    async def forget(request: Request) -> Response:
        runs, attempts = core.forget_settled_runs()
        return JSONResponse({"runs": runs, "deliveries": attempts})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    table: list[tuple[str, Handler, str]] = [
        ("/health", health, "GET"),
        ("/accounts", create_account, "POST"),
        ("/accounts", list_accounts, "GET"),
        ("/accounts/{account_id}", get_account, "GET"),
        ("/accounts/{account_id}/keys", create_key, "POST"),
        ("/accounts/{account_id}/keys", list_keys, "GET"),
        ("/accounts/{account_id}/keys/revoke-all", revoke_all, "POST"),
        ("/accounts/{account_id}/keys/{key_id}", revoke_key, "DELETE"),
        ("/accounts/{account_id}/webhook-secret", regenerate_secret, "POST"),
        ("/accounts/{account_id}/states", set_state, "POST"),
        ("/runs", list_runs, "GET"),
        ("/runs/{run_id}", get_run, "GET"),
        ("/deliveries", deliveries, "GET"),
        ("/wait", wait, "POST"),
        ("/forget", forget, "POST"),
    ]
    return [Route(PREFIX + path, guarded(fn), methods=[method]) for path, fn, method in table]
