"""The emulator's HTTP admin API under ``/_emulator``: the Python API for clients in any language.

It plays the Helios dashboard (accounts, named keys, revoke, revoke all, webhook secret) and adds
what tests need (provider states, runs, the delivery log, waiting for deliveries). It has no
authentication: the emulator listens on loopback only, and the admin API answers only requests
addressed to loopback (the ``Host`` header: no DNS rebinding) and, for calls that change
something, only JSON requests that no browser sent from another site (no cross-site form posts).
See docs/emulator.md for every route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .asgi import JSONResponse, Request, Response, Route
from .request_checks import BadRequest, FieldProblem, is_loopback, parse_json
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
from .state import ProviderStateError

if TYPE_CHECKING:
    from .core import EmulatorCore
    from .delivery import DeliveryAttempt
    from .runs import Run
    from .state import Account, ApiKey

#: Where the admin API lives on the emulator.
ADMIN_PREFIX = "/_emulator"
#: The longest ``POST /wait``, in seconds.
MAX_WAIT = 3600
#: The largest admin request body, in bytes.
ADMIN_BODY_LIMIT = 64 * 1024
#: A listing longer than this is rendered on a worker thread, off the event loop.
OFFLOAD_ITEMS = 500
#: The names a request may give the emulator in its ``Host`` header, with the emulator's port.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
#: The admin API's arguments as the Python API names them, and as its JSON does.
_JSON_NAMES = {"at_step": "atStep", "after_step": "afterStep"}

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
        names = [_JSON_TYPES[k] for k in kinds]
        if "number" in names:  # an integer is a number too
            names.remove("integer")
        expected = " or ".join(names)
        raise BadRequest([FieldProblem(name, f"expected {expected}")])
    return value


_JSON_TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    dict: "object",
    type(None): "null",
}


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
    account.slow_deliveries(_required(body, "delay", (int, float)))


def _drop_deliveries(account: Account, body: dict[str, Any]) -> None:
    account.drop_deliveries(_field(body, "count", int, 1))


def _regenerate_secret_during_next_run(account: Account, body: dict[str, Any]) -> None:
    account.regenerate_secret_during_next_run(_field(body, "afterStep", int, 1))


def _fault_requests(account: Account, body: dict[str, Any]) -> None:
    account.fault_requests(
        _required(body, "fault", str),
        count=_field(body, "count", (int, type(None)), 1),
        status=_field(body, "status", int, 503),
        delay=_field(body, "delay", (int, float, type(None)), None),
    )


def _next_result(account: Account, body: dict[str, Any]) -> None:
    account.next_result(_required(body, "result", dict))


def _reorder_next_run(account: Account, body: dict[str, Any]) -> None:
    account.reorder_next_run()


def _duplicate_deliveries(account: Account, body: dict[str, Any]) -> None:
    account.duplicate_deliveries(_field(body, "count", int, 1))


def _bad_signatures(account: Account, body: dict[str, Any]) -> None:
    account.bad_signatures(_field(body, "count", int, 1))


def _end_faults(account: Account, body: dict[str, Any]) -> None:
    account.end_faults()


#: Each provider state's name and how a request body applies it to an account.
_STATE_SETTERS: dict[str, Callable[[Account, dict[str, Any]], None]] = {
    "fail-next-run": _fail_next_run,
    "exhaust-concurrency": _exhaust_concurrency,
    "release-concurrency": _release_concurrency,
    "slow-deliveries": _slow_deliveries,
    "drop-deliveries": _drop_deliveries,
    "regenerate-secret-during-next-run": _regenerate_secret_during_next_run,
    "next-result": _next_result,
    "fault-requests": _fault_requests,
    "reorder-next-run": _reorder_next_run,
    "duplicate-deliveries": _duplicate_deliveries,
    "bad-signatures": _bad_signatures,
    "end-faults": _end_faults,
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


def _render_list(render: Callable[[Any], dict[str, Any]], items: list[Any]) -> bytes:
    import json

    return json.dumps(
        [render(item) for item in items], ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


class _NotFound(Exception):
    pass


class _Refused(Exception):
    """A request the admin API does not serve: ``status`` and why."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title


def _guarded(handler: Handler, core: EmulatorCore, changes: bool) -> Handler:
    """``handler`` behind the admin API's checks (:func:`_refuse_foreign`), answering 404 for an
    unknown account, run or key, 400 for a bad body, 413 and 408 for a body too large or too
    slow."""

    async def wrapped(request: Request) -> Response:
        try:
            _refuse_foreign(request, core, changes)
            return await handler(request)
        except _Refused as exc:
            return error(exc.status, exc.title, str(exc))
        except _NotFound as exc:
            return error(404, "Not Found", str(exc))
        except ProviderStateError as exc:
            field = _JSON_NAMES.get(exc.argument, exc.argument)
            return bad_request(BadRequest([FieldProblem(field, exc.detail)]))
        except BadRequest as exc:
            return bad_request(exc)
        except ValueError as exc:
            return bad_request(BadRequest([FieldProblem("", str(exc))]))
        except BodyTooLarge:
            return error(
                413, "Payload Too Large", f"Admin request body exceeds {ADMIN_BODY_LIMIT} bytes"
            )
        except BodyTimeout:
            return body_timeout(core.config.body_timeout)
        except ClientGone:
            return client_gone()

    return wrapped


def _refuse_foreign(request: Request, core: EmulatorCore, changes: bool) -> None:
    """Raise :class:`_Refused` for a request the admin API must not serve: one not addressed to
    the emulator on loopback (``Host``: DNS rebinding), and, for calls that change something
    (``changes``), one a browser sent from another site or that is not JSON (a form post)."""
    host = request.headers.get("host", "")
    allowed = _authorities(core)
    if host.lower() not in allowed:
        shown = f"Host {host!r}" if host else "no Host header"
        raise _Refused(
            403,
            "Forbidden",
            f"The admin API answers only requests addressed to the emulator on loopback "
            f"(Host {' or '.join(sorted(allowed))}); got {shown[:120]}",
        )
    if not changes:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        raise _Refused(
            403,
            "Forbidden",
            f"The admin API refuses calls a browser sends from another site "
            f"(Sec-Fetch-Site: {site[:40]})",
        )
    origin = request.headers.get("origin")
    if origin is not None and origin.lower().removeprefix("http://") not in allowed:
        raise _Refused(
            403,
            "Forbidden",
            f"The admin API refuses calls a browser sends from another origin "
            f"(Origin: {origin[:80]})",
        )
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise _Refused(
                415,
                "Unsupported Media Type",
                "Admin calls that change something need Content-Type: application/json, "
                f"even without a body (browser form posts are refused); got {media[:60] or 'none'}",
            )


def _authorities(core: EmulatorCore) -> set[str]:
    """The ``Host`` values that address this emulator: its own, and each loopback name with
    its port."""
    from urllib.parse import urlsplit

    own = urlsplit(core.registry.base_url()).netloc.lower()
    found = {own}
    port = core.own_port
    if port is not None and is_loopback(urlsplit(core.registry.base_url()).hostname or ""):
        found.update(f"{name}:{port}" for name in LOOPBACK_NAMES)
    return found


async def _body_of(request: Request, core: EmulatorCore) -> dict[str, Any]:
    """The request's JSON object; ``{}`` for no body."""
    raw = await read_body(request, ADMIN_BODY_LIMIT, core.config.body_timeout)
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
            Route(
                ADMIN_PREFIX + path,
                _guarded(handler, self.core, changes=method != "GET"),
                methods=[method],
            )
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
        name = _required(await _body_of(request, self.core), "name", str)
        account = self.core.registry.create_account(name)
        return JSONResponse({**account_json(account), "webhookSecret": account.webhook_secret}, 201)

    async def list_accounts(self, request: Request) -> Response:
        return JSONResponse([account_json(a) for a in self.core.registry])

    async def get_account(self, request: Request) -> Response:
        return JSONResponse(account_json(self._account_of(request)))

    async def create_key(self, request: Request) -> Response:
        account = self._account_of(request)
        key = account.create_key(_required(await _body_of(request, self.core), "name", str))
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
        _apply_state(account, await _body_of(request, self.core))
        return JSONResponse({"accountId": account.id, "applied": True})

    # runs and deliveries ------------------------------------------------------------------

    async def list_runs(self, request: Request) -> Response:
        return await self._listing(run_json, list(self.core.runs.values()))

    async def get_run(self, request: Request) -> Response:
        run = self.core.runs.get(request.path_params["run_id"])
        if run is None:
            raise _NotFound(f"No run {request.path_params['run_id']!r} on this emulator")
        return JSONResponse(run_json(run))

    async def deliveries(self, request: Request) -> Response:
        attempts = self.core.log.all(request.query_params.get("runId"))
        return await self._listing(attempt_json, attempts)

    async def _listing(self, render: Callable[[Any], dict[str, Any]], items: list[Any]) -> Response:
        """A JSON list of ``render(item)``; a long one is rendered on a worker thread, so that
        a log of 100,000 attempts does not hold the event loop."""
        if len(items) <= OFFLOAD_ITEMS:
            return JSONResponse([render(item) for item in items])
        body = await self.core.offload(_render_list, render, items)
        return Response(body, media_type="application/json")

    async def wait(self, request: Request) -> Response:
        """Answer once every run (or the body's ``runId``) has settled; 408 after ``timeout``."""
        body = await _body_of(request, self.core)
        timeout = _field(body, "timeout", (int, float), 10.0)
        if not 0 <= timeout <= MAX_WAIT:
            shown = repr(timeout) if abs(timeout) < 10**15 else "a number out of range"
            raise BadRequest(
                [FieldProblem("timeout", f"must be from 0 to {MAX_WAIT} seconds, got {shown}")]
            )
        timeout = float(timeout)
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
