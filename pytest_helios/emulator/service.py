"""``HeliosEmulator``: the embedded Helios API's lifecycle (loop thread, core, app, server) and
its Python API for accounts, runs and webhook deliveries.

The HTTP layer (``asgi``, ``app``, ``admin``, ``server``, h11) loads only when an emulator
starts, and httpx only for an in-process transport: importing this module costs neither.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pytest_helios.facts import CONCURRENCY_LIMIT

from .core import EmulatorConfig, EmulatorCore
from .delivery import DeliveryAttempt, DeliveryPolicy, RoutedTargets, WebhookRoute
from .loop import LoopThread
from .request_checks import is_loopback

if TYPE_CHECKING:
    import httpx

    from .runs import ResultHook, Run
    from .state import Account


NOT_LOOPBACK = (
    "{!r} is not a loopback address; the emulator (and its unauthenticated admin API) "
    "listens on loopback only, e.g. 127.0.0.1 or ::1"
)


class HeliosEmulator:
    """The embedded Helios API: a real HTTP server on loopback (see docs/emulator.md).

    Use it as a context manager::

        with HeliosEmulator() as emu:
            account = emu.create_account("acme")
            key = account.create_key("ci")
            httpx.post(f"{emu.url}/api/v1/agent", headers={"x-api-key": key.value}, json=...)

    ``concurrency_limit``: active runs per agent type per account (documented default 7).
    ``require_https``: refuse ``http://`` webhook URLs even on loopback.
    ``max_body_bytes``: larger request bodies get 413.
    ``time_scale``: runs take their documented minutes times this factor (0: they end at once).
    ``delivery_attempts`` / ``delivery_backoff`` / ``delivery_timeout``: a webhook is tried up
    to that many times, waiting ``backoff * 2**(n-1)`` seconds before retry n, each attempt
    given ``delivery_timeout`` seconds.
    ``webhook_hosts``: hosts other than loopback that webhooks may go to (``*.example.org``
    for its subdomains, ``*`` for any); by default none, and a ``webhookUrl`` elsewhere is a
    400. Whatever is allowed, no webhook goes to the emulator itself.
    ``header_timeout``: seconds a client has to send each request's headers (else 408 and the
    connection closed); ``body_timeout``: the same for a request body.
    ``max_connections``: open connections at most (default: a quarter of the process's file
    descriptor limit, 16 to 512); a new one replaces the oldest without a request in progress.
    ``unknown_fields``: ``"strict"`` (the default) refuses a request field or a
    ``patientContext`` key the documentation does not list with a 400 naming it, the better
    test of a client (a typo'd field name fails in CI instead of being ignored);
    ``"lenient"`` accepts and ignores it. Known fields are checked either way.
    ``serve=False`` starts no server: use :meth:`transport` / :meth:`async_transport`.
    ``result_hook(agent, request, result)`` may change each completed run's synthetic ``result``
    in place (``request`` is a copy of the run's request body); a hook that raises, or leaves
    a payload the webhook schema refuses, ends the run with an error webhook that says why.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        concurrency_limit: int = CONCURRENCY_LIMIT,
        require_https: bool = False,
        max_body_bytes: int = 5 * 1024 * 1024,
        time_scale: float = 0.0,
        delivery_attempts: int = 4,
        delivery_backoff: float = 0.05,
        delivery_timeout: float = 5.0,
        webhook_hosts: Iterable[str] = (),
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        max_connections: int | None = None,
        unknown_fields: str = "strict",
        serve: bool = True,
        result_hook: ResultHook | None = None,
    ) -> None:
        self.config = EmulatorConfig(
            concurrency_limit=concurrency_limit,
            require_https=require_https,
            max_body_bytes=max_body_bytes,
            time_scale=time_scale,
            delivery=DeliveryPolicy(delivery_attempts, delivery_backoff, delivery_timeout),
            result_hook=result_hook,
            webhook_hosts=(webhook_hosts,)
            if isinstance(webhook_hosts, str)
            else tuple(webhook_hosts),
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
            unknown_fields=unknown_fields,
        )
        if not is_loopback(host):
            raise ValueError(NOT_LOOPBACK.format(host))
        self._host = host
        self._port = port
        self._serve = serve
        self._loop = LoopThread()
        self._core: EmulatorCore | None = None
        self._server: Any = None
        self._app: Any = None
        self._url = "http://emulator"

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> HeliosEmulator:
        """Start serving; a restarted emulator begins with no accounts, runs or deliveries."""
        if self._loop.running:
            raise RuntimeError("this HeliosEmulator is already running")
        from .app import build_app
        from .server import Server

        self._loop.start()
        try:
            self._core = EmulatorCore(self.config, self._loop, lambda: self.url)
            self._app = build_app(self._core)
            if self._serve:
                self._server = Server(
                    self._app,
                    self._loop,
                    self._host,
                    self._port,
                    header_timeout=self.config.header_timeout,
                    max_connections=self.config.max_connections,
                )
                self._server.start()
                host = f"[{self._host}]" if ":" in self._host else self._host
                self._url = f"http://{host}:{self._server.port}"
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, cancel unfinished runs and retries, and end the background thread.

        Accounts, runs and the delivery log stay readable afterwards, for assertions.
        """
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._core is not None and self._loop.running:
            self._loop.run(self._core.shutdown())
        self._loop.stop()

    def __enter__(self) -> HeliosEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def core(self) -> EmulatorCore:
        """The running emulator's state and logic (accounts, runs, slots, deliveries)."""
        if self._core is None:
            raise RuntimeError("the emulator has not been started; use it as a context manager")
        return self._core

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>`` (``http://emulator`` without a server)."""
        return self._url

    @property
    def app(self) -> Any:
        """The ASGI app, for in-process use."""
        self.core  # noqa: B018 - raises when not running
        return self._app

    # accounts ------------------------------------------------------------------------------

    def create_account(self, name: str) -> Account:
        """A new account with a fresh webhook secret and no keys."""
        return self.core.registry.create_account(name)

    def forget_account(self, account: Account | str) -> tuple[int, int]:
        """Forget an account (or its id): its keys stop authenticating (401 ``Invalid API
        key``), and its settled runs and their delivery attempts go; runs still playing or
        retrying go once settled, at a later call. Returns ``(runs, attempts)`` forgotten.
        The ``helios_account`` fixture calls it when its test ends."""
        if isinstance(account, str):
            account = self.account(account)
        self.core.deliverer.routes.forget_account(account.id)
        return self.core.forget_account(account)

    @property
    def accounts(self) -> list[Account]:
        return list(self.core.registry)

    def account(self, account_id: str) -> Account:
        try:
            return self.core.registry.accounts[account_id]
        except KeyError:
            raise KeyError(f"no account with id {account_id!r}") from None

    # runs ----------------------------------------------------------------------------------

    @property
    def runs(self) -> list[Run]:
        """Every accepted run, oldest first."""
        return list(self.core.runs.values())

    def run(self, run_id: str) -> Run:
        try:
            return self.core.runs[run_id]
        except KeyError:
            raise KeyError(f"no run with id {run_id!r}") from None

    def wait_for_deliveries(
        self, timeout: float = 10.0, *, run_id: str | None = None
    ) -> list[DeliveryAttempt]:
        """Block until every run has ended and every delivery (retries included) is settled;
        with ``run_id``, only that run and its deliveries (so runs of other tests sharing the
        emulator, retrying to an unreachable URL say, do not hold it up).

        Returns the delivery log (with ``run_id``: that run's attempts); raises
        ``TimeoutError`` naming what is still pending, ``KeyError`` for an unknown run.
        """
        core = self.core
        if run_id is not None:
            self.run(run_id)  # KeyError naming the id when there is no such run
        deadline = time.monotonic() + timeout
        if not core.active_runs.wait(timeout, run_id):
            run = self.run(run_id) if run_id else next(r for r in self.runs if not r.ended)
            raise TimeoutError(f"run {run.id} ({run.agent}) did not end within {timeout} s")
        if not core.deliverer.activity.wait(max(deadline - time.monotonic(), 0), run_id):
            whose = f" of run {run_id}" if run_id else ""
            raise TimeoutError(f"webhook deliveries{whose} still retrying after {timeout} s")
        return self.deliveries if run_id is None else self.deliveries_for(run_id)

    def forget_settled_runs(self) -> tuple[int, int]:
        """Forget every run that has ended with no delivery pending, and its delivery attempts,
        so a long-lived emulator does not grow; returns ``(runs, attempts)`` forgotten. Runs
        still playing or retrying, accounts and keys are kept."""
        return self.core.forget_settled_runs()

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt so far, in the order they were made."""
        return self.core.log.all()

    def deliveries_for(self, run_id: str) -> list[DeliveryAttempt]:
        """The delivery attempts of one run."""
        return self.core.log.all(run_id)

    # webhooks into an app, in-process ----------------------------------------------------

    def route_webhooks(
        self, host: str, app: Any, *, account: Account | None = None
    ) -> WebhookRoute:
        """Deliver the webhooks of every run whose ``webhookUrl`` names ``host`` (any scheme,
        port and path) straight into ``app``, a WSGI or an ASGI app, with no socket.

        The app sees the request a server would pass on (``Host: <host>``, the path of the
        URL, the signed bytes and headers); a delivery is signed, logged and retried like any
        other, and an app that raises answers 500. Such a ``webhookUrl`` is accepted even with
        ``http://`` and a host that is not loopback. With ``account``, only that account's runs
        take the route, and it ends when the account is forgotten (the ``helios_account``
        fixture's teardown); otherwise it serves every account until ``.remove()`` or the end
        of a ``with`` block. A new route of the same host (and account) replaces the old one.
        ASGI apps run on the emulator's event loop, WSGI apps on a worker thread.
        """
        core = self.core
        route = core.deliverer.routes.add(host, app, account.id if account is not None else None)
        if not isinstance(core.targets, RoutedTargets):
            targets = core.targets
            core.targets = RoutedTargets(
                targets.allowed, targets.require_https, core.deliverer.routes
            )
        return route

    # in-process transports -----------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        """A sync httpx transport into the app, with no socket (``httpx.Client(transport=...)``)."""
        from .transports import SyncASGITransport

        return SyncASGITransport(self._loop, self.app)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """An async httpx transport into the app, with no socket."""
        import httpx

        return httpx.ASGITransport(app=self.app)

    def __repr__(self) -> str:
        state = self.url if self._loop.running else "stopped"
        return f"<HeliosEmulator {state}>"
