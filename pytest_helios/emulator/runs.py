"""Analysis runs: what was accepted, where it stands, and when it ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from .state import utcnow

if TYPE_CHECKING:
    from .delivery import Deliverer
    from .state import Account, Failure


@dataclass
class Run:
    """One accepted request. ``status`` goes accepted → processing → completed | error."""

    id: str
    account_id: str
    agent: str
    webhook_url: str
    request: dict[str, Any]
    accepted_at: datetime = field(default_factory=utcnow)
    status: str = "accepted"
    finished_at: datetime | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    failure: Failure | None = field(default=None, repr=False)
    regenerate_after: int | None = field(default=None, repr=False)

    @property
    def ended(self) -> bool:
        """Whether the run has stopped playing (completed, error or cancelled)."""
        return self.finished_at is not None

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.agent} {self.status}>"


#: Documented processing times (midpoints of 5-8, 10-13 and 3-6 minutes), in seconds.
DOCUMENTED_SECONDS = {"light": 390.0, "deep": 690.0, "lab-results": 270.0}


def final_sequence(agent: str) -> int:
    """The final payload's sequence number: the run's number of webhooks."""
    import pytest_helios.payloads as payloads

    return payloads.FINAL_SEQUENCE_NUMBER[cast("payloads.Agent", agent)]


def step_pause(agent: str, time_scale: float) -> float:
    """Seconds between two webhooks of a run: its documented duration, scaled, spread evenly."""
    return DOCUMENTED_SECONDS[agent] * time_scale / final_sequence(agent)


async def execute(run: Run, account: Account, deliverer: Deliverer, pause: float) -> None:
    """Play a run: one status update per step, then the final payload or the error webhook.

    The caller has waited ``pause`` before the first step; later steps wait ``pause`` each.
    Each webhook's first attempt is made before the next step, so in the absence of failures
    the receiver sees them in order; retries continue in the background.
    """
    import pytest_helios.payloads as payloads

    from .results import ehr_result, lab_result

    final = final_sequence(run.agent)
    failure = run.failure
    fail_at = None if failure is None else min(failure.at_step or final, final)
    run.status = "processing"

    async def send(payload: dict[str, Any]) -> None:
        run.sent.append(payload)
        await deliverer.deliver(account, run.webhook_url, payload)

    for sequence in range(1, final + 1):
        if pause and sequence > 1:
            await asyncio.sleep(pause)
        now = utcnow()
        if failure is not None and sequence == fail_at:
            run.status = "error"
            await send(
                payloads.error_webhook(
                    run.id,
                    run.agent,
                    timestamp=now,
                    sequence_number=sequence,
                    message=failure.message,
                    code=failure.code,
                )
            )
            return
        if sequence < final:
            await send(payloads.status_update(run.id, run.agent, sequence, timestamp=now))
            if run.regenerate_after == sequence:
                account.regenerate_webhook_secret()
            continue
        if run.agent == "lab-results":
            result = lab_result(run.id, run.request, timestamp=now, sequence=sequence)
        else:
            result = ehr_result(run.id, run.agent, run.request, timestamp=now, sequence=sequence)
        run.status = "completed"
        await send(result)
