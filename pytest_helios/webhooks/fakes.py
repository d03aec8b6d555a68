"""Signed fake webhook deliveries: the logic behind the ``fake_webhook`` fixture.

A `WebhookFactory` builds `Delivery` objects for every webhook kind, signed with a secret the
way Helios signs them, and sends the same bytes it signed: to a URL with httpx, or in-process
to a WSGI or ASGI app. Each delivery offers named `Variant` objects (tampered body, wrong
secret, stale timestamp, malformed signatures, ...) that carry the verdict a correct receiver
gives them and why; the table of them is `pytest_helios.webhooks.variants`. A `FakeRun` is one
run's deliveries in order: status updates, then the final payload; it can be shuffled and
duplicated the way the network does.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from pytest_helios.facts import AGENTS, TIMESTAMP_HEADER, check_agent
from pytest_helios.masking import mask_secret
from pytest_helios.payloads import builders as payloads
from pytest_helios.payloads.builders import serialize
from pytest_helios.webhooks.sending import DeliveryResponse, Interface, deliver
from pytest_helios.webhooks.signing import (
    DEFAULT_TOLERANCE,
    compute_signature,
    new_webhook_secret,
    sign_webhook,
)
from pytest_helios.webhooks.variants import (
    ACCEPT,
    VARIANTS,
    Change,
    Context,
    Headers,
    Row,
    Verdict,
    set_header,
)

__all__ = ["KINDS", "Delivery", "FakeRun", "Variant", "WebhookFactory"]

KINDS = ("light", "deep", "lab-results", "status-update", "error")
"""``fake_webhook(kind)``: the three completed payloads, a status update, an error."""


def _now() -> int:
    return int(time.time())


def _iso(timestamp: int) -> str:
    return payloads.format_timestamp(datetime.fromtimestamp(timestamp, tz=timezone.utc))


@dataclass(frozen=True, repr=False)
class Delivery:
    """One signed webhook delivery: the exact ``body`` bytes and the ``headers`` sent with it.

    ``headers`` is a tuple of ``(name, value)`` pairs, so that a delivery can carry a header
    twice; `header_dict` gives a plain ``dict``. ``payload`` is the JSON object before
    serialization (``None`` when the body is not JSON). The secret never appears in the repr.
    """

    kind: str
    payload: dict[str, Any] | None
    body: bytes
    headers: Headers
    timestamp: int
    run_id: str
    secret: str = field(repr=False)
    factory: WebhookFactory | None = field(default=None, repr=False, compare=False)

    @property
    def sequence_number(self) -> int | None:
        value = (self.payload or {}).get("sequenceNumber")
        return value if isinstance(value, int) else None

    @property
    def key(self) -> tuple[str, int | None]:
        """``(runId, sequenceNumber)``: what a receiver deduplicates on."""
        return (self.run_id, self.sequence_number)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._describe()}, run_id={self.run_id!r}, "
            f"sequence_number={self.sequence_number!r}, timestamp={self.timestamp}, "
            f"body={len(self.body)} bytes)"
        )

    def _describe(self) -> str:
        return f"kind={self.kind!r}"

    def header_dict(self) -> dict[str, str]:
        """The headers as a ``dict`` (a repeated name keeps its last value)."""
        return dict(self.headers)

    def send(self, url: str, *, timeout: float = 10.0) -> DeliveryResponse:
        """POST the exact signed bytes to ``url`` with httpx."""
        return deliver(url, self.body, self.headers, interface="url", timeout=timeout)

    def deliver_to(
        self,
        app: object,
        *,
        path: str = "/",
        interface: Interface | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DeliveryResponse:
        """POST the exact signed bytes to a WSGI or ASGI ``app`` in-process, with no server.

        The request carries ``Host: testserver``, as Starlette's and Django's test clients do;
        ``headers`` adds or replaces headers (``{"Host": "hooks.example.com"}`` for an app
        behind ``TrustedHostMiddleware`` or Django's ``ALLOWED_HOSTS``). The interface is
        detected (an async callable is ASGI); pass ``interface`` to force it. An exception
        raised by the app comes back as a 500 with ``app_exception`` set. ASGI lifespan events
        are not run: an app that needs its startup hooks is best served with `serve_asgi` and
        reached with `send`.
        """
        extra = list((headers or {}).items())
        return deliver(
            app, self.body, self.headers, path=path, interface=interface, extra_headers=extra
        )

    def variants(
        self, *, now: int | None = None, tolerance: int = DEFAULT_TOLERANCE, margin: int = 0
    ) -> list[Variant]:
        """Every named variant of this delivery, with timestamps relative to ``now``.

        ``now`` defaults to the factory's clock. The timestamp variants sit exactly at and one
        second past ``tolerance``; a receiver that reads its own wall clock a moment later
        needs ``margin`` seconds of slack, which moves the past boundary and the future
        rejection ``margin`` seconds towards safety (their ``reason`` says where they are).
        """
        factory = self._factory()
        clock = factory.clock() if now is None else now
        base = replace(
            self, timestamp=clock, headers=set_header(self.headers, TIMESTAMP_HEADER, str(clock))
        )
        signature = compute_signature(self.body, self.secret)
        context = Context(base, factory, clock, tolerance, margin, signature)
        return [_variant(row, context) for row in VARIANTS if row.when(context)]

    def variant(
        self,
        name: str,
        *,
        now: int | None = None,
        tolerance: int = DEFAULT_TOLERANCE,
        margin: int = 0,
    ) -> Variant:
        """The variant called ``name``; an unknown name lists the valid ones."""
        found = {v.name: v for v in self.variants(now=now, tolerance=tolerance, margin=margin)}
        if name not in found:
            raise LookupError(f"no variant {name!r}; valid variants: {', '.join(found)}")
        return found[name]

    def _factory(self) -> WebhookFactory:
        return self.factory or WebhookFactory(self.secret)


@dataclass(frozen=True, repr=False)
class Variant(Delivery):
    """A named variation of a delivery, with the verdict a correct receiver gives it.

    ``expected`` is ``"accept"``, ``"reject"`` or ``"either"``; ``reason`` says why in words;
    ``error`` names the `WebhookVerificationError` subclass `verify_webhook` raises for it
    (``None`` when it accepts); ``now`` is the clock the verdict assumes.
    """

    name: str = ""
    expected: Verdict = ACCEPT
    reason: str = ""
    error: str | None = None
    now: int = 0

    def _describe(self) -> str:
        return f"name={self.name!r}, expected={self.expected!r}, kind={self.kind!r}"


def _variant(row: Row, context: Context) -> Variant:
    """The variant ``row`` builds from ``context.base``."""
    change: Change = row.build(context)
    chosen = context.base
    if change.body is not None:
        chosen = replace(chosen, body=change.body)
    if change.timestamp is not None:
        chosen = replace(
            chosen,
            timestamp=change.timestamp,
            headers=set_header(chosen.headers, TIMESTAMP_HEADER, str(change.timestamp)),
        )
    if change.headers is not None:
        chosen = replace(chosen, headers=change.headers)
    if change.payload is not ...:
        chosen = replace(chosen, payload=change.payload)
    fields = {f: getattr(chosen, f) for f in Delivery.__dataclass_fields__}
    return Variant(
        **fields,
        name=row.name,
        expected=row.expected,
        reason=row.reason_for(context),
        error=row.error,
        now=context.now,
    )


@dataclass(frozen=True)
class FakeRun:
    """One run's deliveries in sending order (status updates, then the final payload)."""

    deliveries: tuple[Delivery, ...]

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.deliveries)

    def __len__(self) -> int:
        return len(self.deliveries)

    def __getitem__(self, index: int) -> Delivery:
        return self.deliveries[index]

    @property
    def final(self) -> Delivery:
        """The delivery with the highest ``sequenceNumber``: the completed or error payload."""
        return max(self.deliveries, key=lambda d: d.sequence_number or 0)

    @property
    def keys(self) -> list[tuple[str, int | None]]:
        """The distinct ``(runId, sequenceNumber)`` pairs, in sequence order."""
        return sorted(set(d.key for d in self.deliveries), key=lambda k: k[1] or 0)

    def shuffled(self, seed: int | None = 0) -> FakeRun:
        """The same deliveries in another order, as the network may deliver them."""
        order = list(self.deliveries)
        rng = random.Random(seed)
        original = list(order)
        while len(order) > 1 and order == original:
            rng.shuffle(order)
        return FakeRun(tuple(order))

    def with_duplicates(self, times: int = 2, seed: int | None = 0) -> FakeRun:
        """Every delivery ``times`` times (byte-identical retries), interleaved at random."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        copies = [d for d in self.deliveries for _ in range(times)]
        random.Random(seed).shuffle(copies)
        return FakeRun(tuple(copies))

    def send(self, url: str, *, timeout: float = 10.0) -> list[DeliveryResponse]:
        """Send every delivery to ``url`` in order; returns the responses in the same order."""
        import httpx

        with httpx.Client(timeout=timeout) as client:
            return [
                deliver(url, d.body, d.headers, interface="url", timeout=timeout, client=client)
                for d in self.deliveries
            ]

    def deliver_to(
        self,
        app: object,
        *,
        path: str = "/",
        interface: Interface | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[DeliveryResponse]:
        """Deliver every delivery to a WSGI or ASGI ``app`` in order, in-process."""
        return [
            d.deliver_to(app, path=path, interface=interface, headers=headers)
            for d in self.deliveries
        ]


class WebhookFactory:
    """Builds signed deliveries for every webhook kind; ``fake_webhook`` is one of these.

    ``fake_webhook("light")`` is a signed EHR light completed delivery (also ``"deep"``,
    ``"lab-results"``, ``"status-update"`` and ``"error"``); keyword arguments override payload
    fields (``sequenceNumber=9``, ``result={...}``). ``clock`` returns Unix seconds and is read
    each time a delivery or variant is built. ``previous_secret`` is the secret before the last
    regenerate (a fresh random one if not given), used by the ``previous-secret`` variant.
    ``customize(kind, payload)`` may change each built payload in place before the explicit
    ``fields`` apply (the ``fake_webhook`` fixture passes the ``pytest_helios_webhook_payload``
    hook here).
    """

    def __init__(
        self,
        secret: str,
        *,
        clock: Callable[[], int] | None = None,
        previous_secret: str | None = None,
        customize: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        if not isinstance(secret, str) or not secret:
            raise ValueError("WebhookFactory needs a non-empty webhook secret")
        self.secret: str = secret
        self.clock: Callable[[], int] = clock or _now
        self.previous_secret: str = previous_secret or new_webhook_secret()
        self.customize = customize

    def __repr__(self) -> str:
        return f"WebhookFactory(secret={mask_secret(self.secret)!r})"

    def __call__(
        self,
        kind: str = "light",
        /,
        *,
        run_id: str | None = None,
        agent: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> Delivery:
        """A signed delivery of ``kind`` (one of `KINDS`), with payload ``fields`` overridden.

        ``agent`` applies to ``"status-update"`` and ``"error"`` (default ``"light"``);
        ``step`` picks the status update's step or the step an error run failed at.
        ``timestamp`` (Unix seconds) defaults to the clock.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown webhook kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        if kind in AGENTS:
            if agent is not None and agent != kind:
                raise ValueError(f"agent={agent!r} contradicts kind {kind!r}")
            agent = kind
        agent = check_agent(agent or "light")
        run_id = run_id or str(uuid.uuid4())
        when = self.clock() if timestamp is None else timestamp
        payload = _build_payload(kind, agent, run_id=run_id, step=step, timestamp=_iso(when))
        if self.customize is not None:
            self.customize(kind, payload)
        payload.update(fields)
        overridden = payload.get("runId")
        if isinstance(overridden, str) and overridden:
            run_id = overridden  # the header names the run the body names
        return self.sign(payload, kind=kind, timestamp=when, run_id=run_id)

    def completed(self, agent: str = "light", **fields: Any) -> Delivery:
        """The final ``completed`` payload of ``agent`` (``light``, ``deep``, ``lab-results``)."""
        check_agent(agent)
        return self(agent, **fields)

    def status_update(self, agent: str = "light", step: int = 1, **fields: Any) -> Delivery:
        """The ``processing`` status update for ``step`` of an ``agent`` run."""
        return self("status-update", agent=agent, step=step, **fields)

    def error(self, agent: str = "light", step: int | None = None, **fields: Any) -> Delivery:
        """An ``error`` payload for a run of ``agent`` that failed at ``step``."""
        return self("error", agent=agent, step=step, **fields)

    def run(
        self, agent: str = "light", *, run_id: str | None = None, fail_at_step: int | None = None
    ) -> FakeRun:
        """A whole run in sending order: a status update per step, then the final payload.

        With ``fail_at_step`` the run ends with an error payload after that step's update.
        """
        check_agent(agent)
        run_id = run_id or str(uuid.uuid4())
        final = _final_sequence_number(agent)
        last_update = final - 1 if fail_at_step is None else fail_at_step
        if not 1 <= last_update <= final - 1:
            raise ValueError(f"fail_at_step must be between 1 and {final - 1}, got {fail_at_step}")
        deliveries = [
            self.status_update(agent, step, run_id=run_id) for step in range(1, last_update + 1)
        ]
        if fail_at_step is None:
            deliveries.append(self.completed(agent, run_id=run_id))
        else:
            deliveries.append(self.error(agent, fail_at_step, run_id=run_id))
        return FakeRun(tuple(deliveries))

    def sign(
        self,
        payload: dict[str, Any] | bytes,
        *,
        kind: str = "custom",
        timestamp: int | None = None,
        run_id: str | None = None,
        secret: str | None = None,
    ) -> Delivery:
        """Sign an arbitrary payload (serialized compactly) or exact body bytes."""
        body = payload if isinstance(payload, bytes) else serialize(payload)
        parsed = None if isinstance(payload, bytes) else payload
        if run_id is None:
            found = (parsed or {}).get("runId")
            run_id = found if isinstance(found, str) and found else str(uuid.uuid4())
        when = self.clock() if timestamp is None else timestamp
        key = secret or self.secret
        headers = sign_webhook(body, key, timestamp=when, run_id=run_id)
        return Delivery(kind, parsed, body, tuple(headers.items()), when, run_id, key, self)


# --- payloads --------------------------------------------------------------------------------

#: The labs of the request behind a fake lab-results run (the documented example).
SAMPLE_LABS: tuple[dict[str, str], ...] = (
    {
        "name": "Creatinine",
        "value": "1.8 mg/dL",
        "flag": "High",
        "referenceRange": "0.7-1.3 mg/dL",
        "date": "2025-01-15",
        "category": "Renal",
    },
    {
        "name": "eGFR",
        "value": "38 mL/min/1.73m2",
        "flag": "Low",
        "referenceRange": ">60 mL/min/1.73m2",
        "date": "2025-01-15",
        "category": "Renal",
    },
)


def _final_sequence_number(agent: str) -> int:
    return payloads.FINAL_SEQUENCE_NUMBER[check_agent(agent)]


def _build_payload(
    kind: str, agent: str, *, run_id: str, step: int | None, timestamp: str
) -> dict[str, Any]:
    """A schema-valid payload from the shared builders in `pytest_helios.payloads.builders`."""
    if kind == "status-update":
        return payloads.status_update(
            run_id, agent, 1 if step is None else step, timestamp=timestamp
        )
    if kind == "error":
        final = _final_sequence_number(agent)
        failed = final - 1 if step is None else step
        if not 1 <= failed <= final - 1:
            raise ValueError(f"a {agent} run can fail at steps 1 to {final - 1}, not {step}")
        step_name = payloads.STEP_NAMES[check_agent(agent)][failed - 1]
        return payloads.error_webhook(
            run_id,
            agent,
            timestamp=timestamp,
            sequence_number=failed + 1,
            message=f"Processing failed during step {failed} ({step_name})",
        )
    if kind == "lab-results":
        return payloads.lab_results_completed(
            run_id, SAMPLE_LABS, timestamp=timestamp, insights_matched=1
        )
    return payloads.ehr_completed(run_id, kind, timestamp=timestamp)
