"""Concurrent-run slots: a limit per agent type per account, as the rate-limit page documents."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_helios.facts import (
    CONCURRENT_ACTIVE_HEADER,
    CONCURRENT_LIMIT_HEADER,
    CONCURRENT_REMAINING_HEADER,
)

if TYPE_CHECKING:
    from .state import Account


@dataclass(frozen=True)
class Slots:
    """The numbers behind the ``X-Concurrent-*`` headers."""

    limit: int
    active: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.active, 0)

    def headers(self) -> dict[str, str]:
        return {
            CONCURRENT_LIMIT_HEADER: str(self.limit),
            CONCURRENT_ACTIVE_HEADER: str(self.active),
            CONCURRENT_REMAINING_HEADER: str(self.remaining),
        }


class ConcurrencyLimiter:
    """Active runs per ``(account id, agent)``; a slot is held from acceptance to run end.

    An account's ``occupied`` provider state adds phantom runs ("concurrency exhausted").
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"concurrency_limit must be at least 1, got {limit}")
        self.limit = limit
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], set[str]] = {}

    def _count(self, account: Account, agent: str) -> int:
        occupied = account.states.occupied.get(agent, 0)
        return min(len(self._active.get((account.id, agent), ())) + occupied, self.limit)

    def slots(self, account: Account, agent: str) -> Slots:
        with self._lock:
            return Slots(self.limit, self._count(account, agent))

    def acquire(self, account: Account, agent: str, run_id: str) -> tuple[bool, Slots]:
        """Take a slot for ``run_id``; ``(False, slots)`` when the limit is reached."""
        with self._lock:
            active = self._count(account, agent)
            if active >= self.limit:
                return False, Slots(self.limit, active)
            self._active.setdefault((account.id, agent), set()).add(run_id)
            return True, Slots(self.limit, active + 1)

    def release(self, account_id: str, agent: str, run_id: str) -> None:
        with self._lock:
            self._active.get((account_id, agent), set()).discard(run_id)

    def forget(self, account_id: str) -> None:
        """Drop the account's empty slot sets (a forgotten account)."""
        with self._lock:
            for key in [k for k, runs in self._active.items() if k[0] == account_id and not runs]:
                del self._active[key]

    def active_total(self) -> int:
        with self._lock:
            return sum(len(runs) for runs in self._active.values())
