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

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .request_checks import BadRequest, FieldProblem, parse_json
from .responses import bad_request, error

if TYPE_CHECKING:
    from .core import EmulatorCore
    from .delivery import DeliveryAttempt
    from .runs import Run
    from .state import Account, ApiKey

#: Where the admin API lives on the emulator.
ADMIN_PREFIX = "/_emulator"

Handler = Callable[[Request], Awaitable[Response]]


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


def _fail_next_run(account: Account, body: dict[str, Any]) -> None:
    account.fail_next_run(
        _field(body, "message", str, "Processing failed"),
        code=_field(body, "code", (str, type(None)), "processing_failed"),
        at_step=_field(body, "atStep", (int, type(None)), None),
    )


def _exhaust_concurrency(account: Account, body: dict[str, Any]) -> None:
    account.exhaust_concurrency(
        _field(body, "agent", str, "light"), active=_field(body, "active", int, None)
    )


def _release_concurrency(account: Account, body: dict[str, Any]) -> None:
    account.release_concurrency(_field(body, "agent", str, None))


def _slow_deliveries(account: Account, body: dict[str, Any]) -> None:
    account.slow_deliveries(float(_required(body, "delay", (int, float))))


def _drop_deliveries(account: Account, body: dict[str, Any]) -> None:
    account.drop_deliveries(_field(body, "count", int, 1))


def _regenerate_secret_during_next_run(account: Account, body: dict[str, Any]) -> None:
    account.regenerate_secret_during_next_run(_field(body, "afterStep", int, 1))


#: Each provider state's name and how a request body applies it to an account.
_STATE_SETTERS: dict[str, Callable[[Account, dict[str, Any]], None]] = {
    "fail-next-run": _fail_next_run,
    "exhaust-concurrency": _exhaust_concurrency,
    "release-concurrency": _release_concurrency,
    "slow-deliveries": _slow_deliveries,
    "drop-deliveries": _drop_deliveries,
    "regenerate-secret-during-next-run": _regenerate_secret_during_next_run,
}

STATES = ", ".join(_STATE_SETTERS)


def _apply_state(account: Account, body: dict[str, Any]) -> None:
    state = _required(body, "state", str)
    setter = _STATE_SETTERS.get(state)
    if setter is None:
        raise BadRequest(
            [FieldProblem("state", f"unknown state {state!r}; valid states: {STATES}")]
        )
    setter(account, body)


class _NotFound(Exception):
    pass


def _guarded(handler: Handler) -> Handler:
    """``handler`` answering 404 for an unknown account, run or key and 400 for a bad body."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except _NotFound as exc:
            return error(404, "Not Found", str(exc))
        except BadRequest as exc:
            return bad_request(exc)
        except ValueError as exc:
            return bad_request(BadRequest([FieldProblem("", str(exc))]))

    return wrapped


async def _body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object; ``{}`` for no body."""
    raw = await request.body()
    if not raw:
        return {}
    parsed = parse_json(raw, request.headers.get("content-type"))
    if not isinstance(parsed, dict):
        raise BadRequest([FieldProblem("", "expected a JSON object")])
    return parsed


class AdminApi:
    """The admin API around an emulator's core: one method per route (see :meth:`routes`)."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Every admin route under :data:`ADMIN_PREFIX`, each answering its errors as JSON."""
        table: list[tuple[str, Handler, str]] = [
            ("/health", self.health, "GET"),
            ("/accounts", self.create_account, "POST"),
            ("/accounts", self.list_accounts, "GET"),
            ("/accounts/{account_id}", self.get_account, "GET"),
            ("/accounts/{account_id}/keys", self.create_key, "POST"),
            ("/accounts/{account_id}/keys", self.list_keys, "GET"),
            ("/accounts/{account_id}/keys/revoke-all", self.revoke_all, "POST"),
            ("/accounts/{account_id}/keys/{key_id}", self.revoke_key, "DELETE"),
            ("/accounts/{account_id}/webhook-secret", self.regenerate_secret, "POST"),
            ("/accounts/{account_id}/states", self.set_state, "POST"),
            ("/runs", self.list_runs, "GET"),
            ("/runs/{run_id}", self.get_run, "GET"),
            ("/deliveries", self.deliveries, "GET"),
            ("/wait", self.wait, "POST"),
            ("/forget", self.forget, "POST"),
        ]
        return [
            Route(ADMIN_PREFIX + path, _guarded(handler), methods=[method])
            for path, handler, method in table
        ]

    def _account_of(self, request: Request) -> Account:
        account_id = request.path_params["account_id"]
        account = self.core.registry.accounts.get(account_id)
        if account is None:
            raise _NotFound(f"No account {account_id!r} on this emulator")
        return account

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # accounts and keys: the dashboard -----------------------------------------------------

    async def create_account(self, request: Request) -> Response:
        name = _required(await _body_of(request), "name", str)
        account = self.core.registry.create_account(name)
        return JSONResponse({**account_json(account), "webhookSecret": account.webhook_secret}, 201)

    async def list_accounts(self, request: Request) -> Response:
        return JSONResponse([account_json(a) for a in self.core.registry])

    async def get_account(self, request: Request) -> Response:
        return JSONResponse(account_json(self._account_of(request)))

    async def create_key(self, request: Request) -> Response:
        account = self._account_of(request)
        key = account.create_key(_required(await _body_of(request), "name", str))
        return JSONResponse({**key_json(key), "value": key.value}, 201)

    async def list_keys(self, request: Request) -> Response:
        return JSONResponse([key_json(k) for k in self._account_of(request).list_keys()])

    async def revoke_key(self, request: Request) -> Response:
        account = self._account_of(request)
        key_id = request.path_params["key_id"]
        try:
            account.revoke_key(key_id)
        except KeyError:
            raise _NotFound(f"Account {account.id} has no key {key_id!r}") from None
        (key,) = [k for k in account.list_keys() if k.id == key_id]
        return JSONResponse(key_json(key))

    async def revoke_all(self, request: Request) -> Response:
        return JSONResponse({"revoked": self._account_of(request).revoke_all_keys()})

    async def regenerate_secret(self, request: Request) -> Response:
        secret = self._account_of(request).regenerate_webhook_secret()
        return JSONResponse({"webhookSecret": secret})

    async def set_state(self, request: Request) -> Response:
        account = self._account_of(request)
        _apply_state(account, await _body_of(request))
        return JSONResponse({"accountId": account.id, "applied": True})

    # runs and deliveries ------------------------------------------------------------------

    async def list_runs(self, request: Request) -> Response:
        return JSONResponse([run_json(r) for r in list(self.core.runs.values())])

    async def get_run(self, request: Request) -> Response:
        run = self.core.runs.get(request.path_params["run_id"])
        if run is None:
            raise _NotFound(f"No run {request.path_params['run_id']!r} on this emulator")
        return JSONResponse(run_json(run))

    async def deliveries(self, request: Request) -> Response:
        attempts = self.core.log.all(request.query_params.get("runId"))
        return JSONResponse([attempt_json(a) for a in attempts])

    async def wait(self, request: Request) -> Response:
        """Answer once every run (or the body's ``runId``) has settled; 408 after ``timeout``."""
        body = await _body_of(request)
        timeout = float(_field(body, "timeout", (int, float), 10.0))
        run_id = _field(body, "runId", str, None)
        if run_id is not None and run_id not in self.core.runs:
            raise _NotFound(f"No run {run_id!r} on this emulator")
        deadline = time.monotonic() + timeout
        while not self.core.settled(run_id):
            if time.monotonic() >= deadline:
                what = f"Run {run_id} or its deliveries" if run_id else "Runs or deliveries"
                return error(408, "Request Timeout", f"{what} still pending after {timeout} s")
            await asyncio.sleep(0.005)
        return JSONResponse({"settled": True, "deliveries": len(self.core.log.all(run_id))})

    async def forget(self, request: Request) -> Response:
        runs, attempts = self.core.forget_settled_runs()
        return JSONResponse({"runs": runs, "deliveries": attempts})
