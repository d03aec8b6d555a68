"""``HeliosEmulator``: the embedded Helios API, its accounts, runs and webhook deliveries."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .concurrency import Concurrency, Slots
from .delivery import Deliverer, DeliveryAttempt, DeliveryLog, DeliveryPolicy
from .loop import Activity, LoopThread
from .runs import Run, execute, step_pause
from .state import Account, Registry, utcnow

if TYPE_CHECKING:
    import httpx


NOT_LOOPBACK = (
    "{!r} is not a loopback address; the emulator (and its unauthenticated admin API) "
    "listens on loopback only, e.g. 127.0.0.1 or ::1"
)


@dataclass(frozen=True)
class EmulatorConfig:
    """Every knob of the emulator (see ``HeliosEmulator`` for their meaning)."""

    concurrency_limit: int = 7
    require_https: bool = False
    max_body_bytes: int = 5 * 1024 * 1024
    time_scale: float = 0.0
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)

    def __post_init__(self) -> None:
        Concurrency(self.concurrency_limit)  # raises on a bad limit
        if self.time_scale < 0:
            raise ValueError(f"time_scale must be 0 or more, got {self.time_scale}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EmulatorCore:
    """The state behind the HTTP app, shared by the server and the Python API."""

    def __init__(self, config: EmulatorConfig, loop: LoopThread, base_url: Callable[[], str]):
        self.config = config
        self.loop = loop
        self.registry = Registry(base_url)
        self.concurrency = Concurrency(config.concurrency_limit)
        self.runs: dict[str, Run] = {}
        self.log = DeliveryLog()
        self.deliverer = Deliverer(config.delivery, self.log)
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.active_runs = Activity()

    def admit(self, account: Account, agent: str, body: dict[str, Any]) -> tuple[bool, str, Slots]:
        """Take a concurrency slot and start a run; ``(False, "", slots)`` at the limit."""
        run_id = str(uuid.uuid4())
        admitted, slots = self.concurrency.acquire(account, agent, run_id)
        if not admitted:
            return False, "", slots
        run = Run(run_id, account.id, agent, str(body["webhookUrl"]), body)
        run.failure = account.take_failure()
        run.regenerate_after = account.take_secret_regeneration()
        self.runs[run_id] = run
        self.active_runs.begin()
        loop = self.loop.loop
        if _running_loop() is loop:
            self._start(run, account)
        else:  # an in-process transport, on the caller's thread or loop
            loop.call_soon_threadsafe(self._start, run, account)
        return True, run_id, slots

    def _start(self, run: Run, account: Account) -> None:
        pause = step_pause(run.agent, self.config.time_scale)
        if pause:  # a timer until the first step is much lighter than a sleeping task
            loop = asyncio.get_running_loop()
            self._timers[run.id] = loop.call_later(pause, self._launch, run, account, pause)
        else:
            self._launch(run, account, pause)

    def _launch(self, run: Run, account: Account, pause: float) -> None:
        self._timers.pop(run.id, None)
        task = asyncio.get_running_loop().create_task(self._execute(run, account, pause))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run: Run, account: Account, pause: float) -> None:
        try:
            await execute(run, account, self.deliverer, pause)
        except asyncio.CancelledError:
            run.status = "cancelled"
            raise
        finally:
            self._finish(run)

    def _finish(self, run: Run) -> None:
        self.concurrency.release(run.account_id, run.agent, run.id)
        run.finished_at = utcnow()
        self.active_runs.end()

    def settled(self) -> bool:
        """Whether every run has ended and no delivery is pending."""
        return self.active_runs.idle and self.deliverer.activity.idle

    async def shutdown(self) -> None:
        """Cancel unfinished runs and pending retries; close the delivery client."""
        for run_id, timer in list(self._timers.items()):
            timer.cancel()
            run = self.runs[run_id]
            run.status = "cancelled"
            self._finish(run)
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.deliverer.close()


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
    ``serve=False`` starts no server: use :meth:`transport` / :meth:`async_transport`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        concurrency_limit: int = 7,
        require_https: bool = False,
        max_body_bytes: int = 5 * 1024 * 1024,
        time_scale: float = 0.0,
        delivery_attempts: int = 4,
        delivery_backoff: float = 0.05,
        delivery_timeout: float = 5.0,
        serve: bool = True,
    ) -> None:
        self.config = EmulatorConfig(
            concurrency_limit=concurrency_limit,
            require_https=require_https,
            max_body_bytes=max_body_bytes,
            time_scale=time_scale,
            delivery=DeliveryPolicy(delivery_attempts, delivery_backoff, delivery_timeout),
        )
        from .requests import is_loopback

        if not is_loopback(host):
            raise ValueError(NOT_LOOPBACK.format(host))
        self._host = host
        self._port = port
        self._serve = serve
        self._loop = LoopThread()
        self._core: EmulatorCore | None = None
        self._server: Any = None
        self._app: Any = None

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> HeliosEmulator:
        if self._core is not None:
            raise RuntimeError("this HeliosEmulator is already running")
        from .app import build_app
        from .server import Server

        self._loop.start()
        try:
            self._core = EmulatorCore(self.config, self._loop, lambda: self.url)
            self._app = build_app(self._core)
            if self._serve:
                self._server = Server(self._app, self._loop, self._host, self._port)
                self._server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, cancel unfinished runs and retries, and end the background thread."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._core is not None and self._loop.running:
            self._loop.run(self._core.shutdown())
        self._loop.stop()
        self._core = None

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
        if self._core is None:
            raise RuntimeError("the emulator is not running; use it as a context manager")
        return self._core

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>`` (``http://emulator`` without a server)."""
        if self._server is None:
            return "http://emulator"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.port}"

    @property
    def app(self) -> Any:
        """The ASGI app, for in-process use."""
        self.core  # noqa: B018 - raises when not running
        return self._app

    # accounts ------------------------------------------------------------------------------

    def create_account(self, name: str) -> Account:
        """A new account with a fresh webhook secret and no keys."""
        return self.core.registry.create_account(name)

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

    def wait_for_deliveries(self, timeout: float = 10.0) -> list[DeliveryAttempt]:
        """Block until every run has ended and every delivery (retries included) is settled.

        Returns the delivery log; raises ``TimeoutError`` naming what is still pending.
        """
        core = self.core
        deadline = time.monotonic() + timeout
        if not core.active_runs.wait(timeout):
            run = next(r for r in self.runs if not r.ended)
            raise TimeoutError(f"run {run.id} ({run.agent}) did not end within {timeout} s")
        if not core.deliverer.activity.wait(max(deadline - time.monotonic(), 0)):
            raise TimeoutError(f"webhook deliveries still retrying after {timeout} s")
        return self.deliveries

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt so far, in the order they were made."""
        return self.core.log.all()

    def deliveries_for(self, run_id: str) -> list[DeliveryAttempt]:
        """The delivery attempts of one run."""
        return [a for a in self.core.log.all() if a.run_id == run_id]

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
        state = self.url if self._core is not None else "stopped"
        return f"<HeliosEmulator {state}>"
