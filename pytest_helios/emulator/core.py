"""The emulator's state and logic: its configuration, accounts, runs, slots and deliveries.

:class:`EmulatorCore` knows nothing of HTTP: the app (``app``, ``admin``) calls into it, and
:class:`~pytest_helios.emulator.service.HeliosEmulator` owns it, with the loop thread and server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pytest_helios.facts import CONCURRENCY_LIMIT

from .concurrency import ConcurrencyLimiter, Slots
from .delivery import Deliverer, DeliveryLog, DeliveryPolicy
from .faults import for_run
from .loop import Activity, LoopThread, throttled_logger
from .request_checks import WebhookTargets, check_unknown_fields
from .runs import Run, execute, step_pause
from .state import Account, Registry, utcnow

if TYPE_CHECKING:
    from .runs import ResultHook

T = TypeVar("T")
_log = throttled_logger("pytest_helios.emulator")
#: At ``time_scale`` 0, how long a request at the concurrency limit waits for a run delivering
#: at full speed to end before it is answered 429 (docs/emulator.md, Assumptions).
ADMIT_WAIT = 2.0
#: Worker threads for what would hold the event loop too long: checking a large request body,
#: building the result of a large request.
WORKERS = 2


@dataclass(frozen=True)
class EmulatorConfig:
    """Every knob of the emulator (see ``HeliosEmulator`` for their meaning)."""

    concurrency_limit: int = CONCURRENCY_LIMIT
    require_https: bool = False
    max_body_bytes: int = 5 * 1024 * 1024
    time_scale: float = 0.0
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    result_hook: ResultHook | None = None
    webhook_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int | None = None
    #: ``strict`` (a 400 names each unknown request field or patientContext key) or
    #: ``lenient`` (accepted and ignored); see ``request_checks.UNKNOWN_FIELDS``
    unknown_fields: str = "strict"

    def __post_init__(self) -> None:
        ConcurrencyLimiter(self.concurrency_limit)  # raises on a bad limit
        check_unknown_fields(self.unknown_fields)
        if self.time_scale < 0:
            raise ValueError(f"time_scale must be 0 or more, got {self.time_scale}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a number of seconds above 0, got {value!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")
        self.targets  # noqa: B018 - raises ValueError naming a bad webhook host

    @property
    def targets(self) -> WebhookTargets:
        """Where webhooks may go: loopback, and the allowed ``webhook_hosts``."""
        return WebhookTargets.of(self.webhook_hosts, require_https=self.require_https)


def _uuid4() -> str:
    """A random (version 4) UUID as text; ``str(uuid.uuid4())`` costs several times more."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
        self.concurrency = ConcurrencyLimiter(config.concurrency_limit)
        self.runs: dict[str, Run] = {}
        self.log = DeliveryLog()
        self.targets = config.targets
        self._base_url = base_url
        self.deliverer = Deliverer(config.delivery, self.log, self.targets, lambda: self.own_port)
        self.registry.on_state_change = self._state_changed
        self._workers: concurrent.futures.ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # runs waiting for their first step, per agent: one agent's runs all wait the same
        # pause, so each queue is in due order and one timer per agent serves all of them
        self._waiting: dict[str, deque[tuple[float, Run, Account]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.active_runs = Activity()
        #: runs of forgotten accounts, dropped once settled
        self._forgotten: set[str] = set()
        self.active_runs.on_idle = self._settled_one
        self.deliverer.activity.on_idle = self._settled_one

    @property
    def own_port(self) -> int | None:
        """The port the emulator listens on (``None`` without a server): no webhook goes there."""
        try:
            return urlsplit(self._base_url()).port
        except ValueError:
            return None

    async def offload(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on a worker thread, so that it does not hold the event loop."""
        if self._workers is None:
            self._workers = concurrent.futures.ThreadPoolExecutor(
                WORKERS, thread_name_prefix="helios-emulator-worker"
            )
        return await asyncio.get_running_loop().run_in_executor(self._workers, work, *args)

    def _state_changed(self, account: Account) -> None:
        """An account's provider state changed (on any thread): wake its waiting deliveries."""
        self.loop.call_soon(self.deliverer.wake, account.id)

    def admit(
        self, account: Account, agent: str, webhook_url: str, raw: bytes
    ) -> tuple[bool, str, Slots]:
        """Take a concurrency slot and start a run of the validated request ``raw``;
        ``(False, "", slots)`` at the limit."""
        run_id = _uuid4()
        admitted, slots = self.concurrency.acquire(account, agent, run_id)
        if not admitted:
            return False, "", slots
        run = Run(run_id, account.id, agent, webhook_url, raw)
        run.failure = account.take_next_failure()
        run.regenerate_after = account.take_secret_regeneration()
        self.runs[run_id] = run
        self.active_runs.begin(run_id)
        loop = self.loop.loop
        if _running_loop() is loop:
            self._start(run, account)
        else:  # an in-process transport, on the caller's thread or loop
            loop.call_soon_threadsafe(self._start, run, account)
        return True, run_id, slots

    def draining(self, account: Account, agent: str) -> bool:
        """Whether every slot of ``agent`` the account holds is a run delivering at full speed
        (``time_scale`` 0, no phantom runs, no delivery delay): one is about to end."""
        states = account.states
        return (
            self.config.time_scale == 0
            and not states.occupied.get(agent, 0)
            and not states.delivery_delay
        )

    async def admit_when_free(
        self, account: Account, agent: str, webhook_url: str, raw: bytes
    ) -> tuple[bool, str, Slots]:
        """:meth:`admit`, but at the limit, while the slots are held only by runs delivering
        at full speed, wait (up to :data:`ADMIT_WAIT`) for one of them to end: back-to-back
        submissions never meet a 429 the test did not ask for. Any event loop (anyio)."""
        admitted = self.admit(account, agent, webhook_url, raw)
        if admitted[0] or not self.draining(account, agent):
            return admitted
        import time

        import anyio

        deadline = time.monotonic() + ADMIT_WAIT
        while time.monotonic() < deadline and self.draining(account, agent):
            await anyio.sleep(0.0005)
            admitted = self.admit(account, agent, webhook_url, raw)
            if admitted[0]:
                break
        return admitted

    def _start(self, run: Run, account: Account) -> None:
        pause = step_pause(run.agent, self.config.time_scale)
        if not pause:
            self._launch(run, account)
            return
        loop = asyncio.get_running_loop()
        queue = self._waiting.setdefault(run.agent, deque())
        queue.append((loop.time() + pause, run, account))
        if len(queue) == 1:
            self._arm(run.agent)

    def _arm(self, agent: str) -> None:
        queue = self._waiting[agent]
        if queue:
            loop = asyncio.get_running_loop()
            self._timers[agent] = loop.call_at(queue[0][0], self._due, agent)
        else:
            self._timers.pop(agent, None)

    def _due(self, agent: str) -> None:
        queue = self._waiting[agent]
        now = asyncio.get_running_loop().time()
        while queue and queue[0][0] <= now:
            _, run, account = queue.popleft()
            self._launch(run, account)
        self._arm(agent)

    def _launch(self, run: Run, account: Account) -> None:
        pause = step_pause(run.agent, self.config.time_scale)
        task = asyncio.get_running_loop().create_task(self._execute(run, account, pause))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run: Run, account: Account, pause: float) -> None:
        deliverer, hook = for_run(account, self.deliverer, self.config.result_hook)
        try:
            await execute(run, account, deliverer, pause, hook, self.offload)
        except asyncio.CancelledError:
            run.status = "cancelled"
            raise
        except Exception as exc:  # the emulator's own failure: the run ends, said once
            run.status = "error"
            _log.error(
                "run %s (%s) failed inside the emulator and ended as error: %s: %s",
                run.id, run.agent, type(exc).__name__, exc, key=("run", type(exc).__name__),
                exc_info=exc,
            )  # fmt: skip
        finally:
            self._finish(run)

    def _finish(self, run: Run) -> None:
        self.concurrency.release(run.account_id, run.agent, run.id)
        run.finished_at = utcnow()
        self.active_runs.end(run.id)

    def forget_account(self, account: Account) -> tuple[int, int]:
        """Forget ``account``: its keys no longer authenticate, and its settled runs and their
        delivery attempts are dropped (runs still playing or retrying are dropped by a later
        call, once settled); returns ``(runs, attempts)`` dropped."""
        registry = self.registry
        with registry.lock:
            registry.accounts.pop(account.id, None)
            for digest, record in list(registry._by_digest.items()):
                if record.account_id == account.id:
                    del registry._by_digest[digest]
        self.concurrency.forget(account.id)
        self.loop.call_soon(self.deliverer.retire, account.id)  # its delivery clients close
        # list() copies in one step: the loop thread adds and drops runs meanwhile
        runs = list(self.runs.values())
        self._forgotten.update(r.id for r in runs if r.account_id == account.id)
        settled = {run_id for run_id in list(self._forgotten) if self._gone_or_settled(run_id)}
        self._forgotten -= settled
        dropped = [run_id for run_id in settled if self.runs.pop(run_id, None) is not None]
        return len(dropped), self.log.forget(settled)

    def _gone_or_settled(self, run_id: str) -> bool:
        run = self.runs.get(run_id)
        return run is None or (run.ended and self.deliverer.activity.idle_for(run_id))

    def _settled_one(self, run_id: str) -> None:
        """(Any thread.) A run's work or deliveries all ended: a forgotten account's run that
        is now settled goes, with its delivery attempts."""
        if run_id not in self._forgotten or not self.settled(run_id):
            return
        self._forgotten.discard(run_id)
        self.runs.pop(run_id, None)
        self.log.forget({run_id})

    def forget_settled_runs(self) -> tuple[int, int]:
        """Drop every run that has ended with no delivery pending, and its delivery attempts;
        returns ``(runs, attempts)`` dropped."""
        settled = {
            run_id
            for run_id, run in list(self.runs.items())
            if run.ended and self.deliverer.activity.idle_for(run_id)
        }
        for run_id in settled:
            self.runs.pop(run_id, None)
        return len(settled), self.log.forget(settled)

    def settled(self, run_id: str | None = None) -> bool:
        """Whether every run (or the run ``run_id``) has ended and none of its deliveries is
        pending."""
        if run_id is None:
            return self.active_runs.idle and self.deliverer.activity.idle
        return self.active_runs.idle_for(run_id) and self.deliverer.activity.idle_for(run_id)

    async def shutdown(self) -> None:
        """Cancel unfinished runs and pending retries; close the delivery client."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for queue in self._waiting.values():
            for _, run, _account in queue:
                run.status = "cancelled"
                self._finish(run)
            queue.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.deliverer.close()
        if self._workers is not None:
            # a worker finishes the body it checks (bounded: see request_checks), then ends
            self._workers.shutdown(wait=True, cancel_futures=True)
            self._workers = None
