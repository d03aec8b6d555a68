"""The emulator's background thread: one asyncio event loop for the server, runs and deliveries."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Activity:
    """A thread-safe count of pending work, in all and per key (a run id), and a way to wait
    until there is none."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending = 0
        self._per_key: dict[str, int] = {}
        #: called with a key whose work has all ended, before any waiter wakes
        self.on_idle: Callable[[str], object] | None = None

    def begin(self, key: str = "") -> None:
        with self._changed:
            self._pending += 1
            self._per_key[key] = self._per_key.get(key, 0) + 1

    def end(self, key: str = "") -> None:
        with self._changed:
            self._pending -= 1
            left = self._per_key[key] - 1
            if left:
                self._per_key[key] = left
            else:
                del self._per_key[key]
                if self.on_idle is not None:
                    self.on_idle(key)
            self._changed.notify_all()

    @property
    def idle(self) -> bool:
        return not self._pending

    def idle_for(self, key: str) -> bool:
        """Whether nothing is pending under ``key``."""
        return key not in self._per_key

    def wait(self, timeout: float, key: str | None = None) -> bool:
        """Wait until nothing (under ``key``, when given) is pending; ``False`` after
        ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(
                (lambda: not self._pending) if key is None else (lambda: key not in self._per_key),
                timeout,
            )


class LoopThread:
    """An event loop running in a daemon thread, started and stopped explicitly."""

    def __init__(self, name: str = "helios-emulator") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the emulator is not running; use it as a context manager")
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        loop.set_exception_handler(_exception_handler(throttled_logger("asyncio")))

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` on the loop (at once when already on it), from any thread;
        nothing happens when the loop is not running."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback(*args)
            return
        with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing waits any more
            loop.call_soon_threadsafe(callback, *args)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            coro.close()  # never started: no "coroutine was never awaited" warning
            self.loop  # noqa: B018 - raises the "not running" error
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.run(_cancel_remaining())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        # the threads that resolved webhook host names end with the loop
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        self._loop = None
        self._thread = None


async def _cancel_remaining() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ThrottledLogger:
    """A logger that writes at most ``burst`` records per cause (the message template, or
    ``key=``) in each ``window`` seconds; the next record written for that cause says how many
    were left out. A flood of bad connections then costs a few lines, not 70 MB of stderr.

    It offers what the emulator calls on a logger: ``debug`` ...
    ``exception``, ``log`` and ``level``.
    """

    def __init__(self, name: str, burst: int = 3, window: float = 60.0) -> None:
        self.logger = logging.getLogger(name)
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._causes: dict[object, tuple[float, int, int]] = {}

    @property
    def level(self) -> int:
        return self.logger.level

    def isEnabledFor(self, level: int) -> bool:
        return self.logger.isEnabledFor(level)

    def admit(self, cause: object) -> int | None:
        """Whether a record of ``cause`` may be written now: ``None`` if not, else how many
        records of that cause were left out since the last one written."""
        now = time.monotonic()
        with self._lock:
            if len(self._causes) > 1000:  # causes are few; never let them grow without bound
                self._causes.clear()
            start, written, left_out = self._causes.get(cause, (now, 0, 0))
            if now - start >= self.window:
                start, written = now, 0
            if written >= self.burst:
                self._causes[cause] = (start, written, left_out + 1)
                return None
            self._causes[cause] = (start, written + 1, 0)
            return left_out

    def log(self, level: int, msg: object, *args: object, key: object = None, **kw: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        left_out = self.admit(key if key is not None else (level, msg))
        if left_out is None:
            return
        if left_out:
            text = str(msg) if args else str(msg).replace("%", "%%")
            msg, args = text + " (%d more like this were not logged)", (*args, left_out)
        self.logger.log(level, msg, *args, **kw)

    def debug(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kw)

    def info(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(logging.INFO, msg, *args, **kw)

    def warning(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kw)

    def error(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kw)

    def exception(self, msg: object, *args: object, **kw: Any) -> None:
        kw.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **kw)


_LOGGERS: dict[str, ThrottledLogger] = {}


def throttled_logger(name: str) -> ThrottledLogger:
    """The one :class:`ThrottledLogger` of ``name`` in this process."""
    with _LOGGERS_LOCK:
        found = _LOGGERS.get(name)
        if found is None:
            found = _LOGGERS[name] = ThrottledLogger(name)
        return found


_LOGGERS_LOCK = threading.Lock()


def _exception_handler(limiter: ThrottledLogger) -> Any:
    """An event loop exception handler that lets a few reports of each cause through."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        cause = (str(context.get("message")), type(exc).__name__ if exc else None)
        left_out = limiter.admit(cause)
        if left_out is None:
            return
        if left_out:
            context = {**context, "message": f"{context.get('message')} "
                       f"({left_out} more like this were not logged)"}  # fmt: skip
        loop.default_exception_handler(context)

    return handle
