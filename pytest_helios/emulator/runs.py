"""Analysis runs: what was accepted, where it stands, and when it ends."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .state import utcnow

if TYPE_CHECKING:
    from .delivery import Deliverer
    from .state import Account


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
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.agent} {self.status}>"


#: Documented processing times (midpoints of 5-8, 10-13 and 3-6 minutes), in seconds.
DOCUMENTED_SECONDS = {"light": 390.0, "deep": 690.0, "lab-results": 270.0}


async def execute(run: Run, account: Account, deliverer: Deliverer, time_scale: float) -> None:
    """Play a run: one status update per step, then the final payload or the error webhook.

    Steps are spread evenly over the documented duration times ``time_scale`` (0: no wait).
    Each webhook's first attempt is made before the next step, so in the absence of failures
    the receiver sees them in order; retries continue in the background.
    """
    import pytest_helios.payloads as payloads

    from .results import ehr_result, lab_result

    final = payloads.FINAL_SEQUENCE_NUMBER[payloads.AGENTS[payloads.AGENTS.index(run.agent)]]
    pause = DOCUMENTED_SECONDS[run.agent] * time_scale / final
    failure = account.take_failure()
    fail_at = None if failure is None else min(failure.at_step or final, final)
    regenerate_after = account.take_secret_regeneration()
    run.status = "processing"

    async def send(payload: dict[str, Any]) -> None:
        run.sent.append(payload)
        await deliverer.deliver(account, run.webhook_url, payload)

    for sequence in range(1, final + 1):
        if pause:
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
            if regenerate_after == sequence:
                account.regenerate_webhook_secret()
            continue
        if run.agent == "lab-results":
            result = lab_result(run.id, run.request, timestamp=now, sequence=sequence)
        else:
            result = ehr_result(run.id, run.agent, run.request, timestamp=now, sequence=sequence)
        run.status = "completed"
        await send(result)
