"""Analysis runs: what was accepted, where it stands, and when it ends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytest_helios.facts import check_agent

from .state import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .delivery import Deliverer
    from .state import Account, Failure

    ResultHook = Callable[[str, dict[str, Any], dict[str, Any]], None]
    Offload = Callable[..., Awaitable[Any]]

#: A request larger than this has its result built on a worker thread (``offload``), so that
#: sorting thousands of labs does not hold the event loop.
OFFLOAD_BYTES = 64 * 1024


@dataclass(slots=True)
class Run:
    """One accepted request. ``status`` goes accepted → processing → completed | error
    (or cancelled when the emulator stops first).

    The request is kept as its raw bytes, not parsed: thousands of waiting runs then hold
    no containers for the garbage collector to walk. ``request`` parses it on access.
    """

    id: str
    account_id: str
    agent: str
    webhook_url: str
    raw_request: bytes = field(repr=False)
    accepted_at: datetime = field(default_factory=utcnow)
    status: str = "accepted"
    finished_at: datetime | None = None
    sent: list[dict[str, Any]] = field(default_factory=list, repr=False)
    failure: Failure | None = field(default=None, repr=False)
    regenerate_after: int | None = field(default=None, repr=False)

    @property
    def request(self) -> dict[str, Any]:
        """The request body as accepted."""
        parsed: dict[str, Any] = json.loads(self.raw_request)
        return parsed

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
    import pytest_helios.payloads.builders as payloads

    return payloads.FINAL_SEQUENCE_NUMBER[check_agent(agent)]


def step_pause(agent: str, time_scale: float) -> float:
    """Seconds between two webhooks of a run: its documented duration, scaled, spread evenly."""
    return DOCUMENTED_SECONDS[agent] * time_scale / final_sequence(agent)


async def execute(
    run: Run,
    account: Account,
    deliverer: Deliverer,
    pause: float,
    result_hook: ResultHook | None = None,
    offload: Offload | None = None,
) -> None:
    """Play a run: one status update per step, then the final payload or the error webhook.

    The caller has waited ``pause`` before the first step; later steps wait ``pause`` each.
    ``offload(work, *args)`` runs the building of a large request's result off the loop.
    Each webhook's first attempt is made before the next step, so in the absence of failures
    the receiver sees them in order; retries continue in the background.
    """
    import pytest_helios.payloads.builders as payloads

    final = final_sequence(run.agent)
    failure = run.failure
    fail_at = None if failure is None else min(failure.at_step or final, final)
    run.status = "processing"

    async def send(payload: dict[str, Any]) -> None:
        run.sent.append(payload)
        await deliverer.deliver(account, run.webhook_url, payload)

    async def fail(sequence: int, timestamp: datetime, message: str, code: str | None) -> None:
        run.status = "error"
        await send(
            payloads.error_webhook(
                run.id,
                run.agent,
                timestamp=timestamp,
                sequence_number=sequence,
                message=message,
                code=code,
            )
        )

    for sequence in range(1, final + 1):
        if pause and sequence > 1:
            await asyncio.sleep(pause)
        now = utcnow()
        if failure is not None and sequence == fail_at:
            await fail(sequence, now, failure.message, failure.code)
            return
        if sequence < final:
            await send(payloads.status_update(run.id, run.agent, sequence, timestamp=now))
            if run.regenerate_after == sequence:
                account.regenerate_webhook_secret()
            continue
        if offload is not None and len(run.raw_request) > OFFLOAD_BYTES:
            result = await offload(build_result, run, now, sequence)
        else:
            result = build_result(run, now, sequence)
        problem = None if result_hook is None else customise(result_hook, run, result)
        if problem is not None:
            await fail(sequence, now, problem, "result_hook_failed")
            return
        run.status = "completed"
        await send(result)


def build_result(run: Run, now: datetime, sequence: int) -> dict[str, Any]:
    """The run's completed payload, derived from its request (see ``results``)."""
    from .results import ehr_result, lab_result

    request = run.request
    if run.agent == "lab-results":
        return lab_result(run.id, request, timestamp=now, sequence=sequence)
    return ehr_result(run.id, run.agent, request, timestamp=now, sequence=sequence)


def customise(hook: ResultHook, run: Run, payload: dict[str, Any]) -> str | None:
    """Let ``hook`` change the completed payload's result; what went wrong, or None."""
    from pytest_helios.exceptions import ContractViolation
    from pytest_helios.payloads.validation import validate

    try:
        hook(run.agent, run.request, payload["result"])
    except Exception as exc:  # a user's hook: any failure is reported in the run, not lost
        return f"the emulator's result hook raised {type(exc).__name__}: {exc}"
    try:
        validate("webhook", payload)
    except ContractViolation as violation:
        return f"the emulator's result hook left an invalid payload: {violation}"
    return None
