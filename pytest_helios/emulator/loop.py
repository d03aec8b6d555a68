"""The emulator's background thread: one asyncio event loop for the server, runs and deliveries."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Activity:
    """A thread-safe count of pending work, in all and per key (a run id), and a way to wait
    until there is none."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending = 0
        self._per_key: dict[str, int] = {}

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

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop

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
        loop.close()
        self._loop = None
        self._thread = None


async def _cancel_remaining() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
