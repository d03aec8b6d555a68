"""Signed webhook delivery with retries, and the log of every attempt.

Each webhook body is serialised once; every attempt sends those same bytes, signed at sending
time with the account's *current* secret and stamped with the current Unix time (so a secret
regenerated between two attempts signs the next one). A 2xx answer delivers the webhook; any
other status, a timeout or a refused connection is retried after ``backoff * 2**(n-1)``
seconds, up to ``attempts`` attempts in all.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytest_helios.payloads.builders import serialize

from .loop import Activity
from .state import utcnow

if TYPE_CHECKING:
    import httpx

    from .state import Account


@dataclass(frozen=True)
class DeliveryPolicy:
    """How webhooks are delivered: ``attempts`` in all, backoff base and per-attempt timeout."""

    attempts: int = 4
    backoff: float = 0.05
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"delivery_attempts must be at least 1, got {self.attempts}")
        if self.backoff < 0:
            raise ValueError(f"delivery_backoff must be 0 or more seconds, got {self.backoff}")
        if self.timeout <= 0:
            raise ValueError(f"delivery_timeout must be more than 0 seconds, got {self.timeout}")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2, 3, ...)."""
        return self.backoff * 2.0 ** (attempt - 2)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver one webhook, as the delivery log keeps it.

    ``status_code`` is the receiver's answer, or ``None`` when there was none; then ``error``
    says why (``"timeout"``, ``"connection refused"``, ``"dropped (provider state)"``...).
    """

    run_id: str
    sequence_number: int
    status: str
    url: str
    attempt: int
    sent_at: datetime
    status_code: int | None
    error: str | None
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class DeliveryLog:
    """Every delivery attempt, in the order they were made (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: list[DeliveryAttempt] = []

    def add(self, attempt: DeliveryAttempt) -> None:
        with self._lock:
            self._attempts.append(attempt)

    def all(self, run_id: str | None = None) -> list[DeliveryAttempt]:
        """Every attempt, or with ``run_id`` those of one run."""
        with self._lock:
            return [a for a in self._attempts if run_id is None or a.run_id == run_id]

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()

    def forget(self, run_ids: set[str]) -> int:
        """Drop the attempts of these runs; returns how many were dropped."""
        with self._lock:
            kept = [a for a in self._attempts if a.run_id not in run_ids]
            dropped = len(self._attempts) - len(kept)
            self._attempts = kept
        return dropped


#: Concurrent delivery connections (all receivers together).
CONNECTIONS = 16


class Deliverer:
    """Delivers webhooks from the emulator's event loop."""

    def __init__(self, policy: DeliveryPolicy, log: DeliveryLog) -> None:
        self.policy = policy
        self.log = log
        self._client: httpx.AsyncClient | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._in_flight: asyncio.Semaphore | None = None
        self.activity = Activity()

    def _client_for_loop(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            from pytest_helios.client import tls_context

            limits = httpx.Limits(
                max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS
            )
            # waiting for a free connection is queueing, not a failed attempt: no pool timeout
            timeout = httpx.Timeout(self.policy.timeout, pool=None)
            self._client = httpx.AsyncClient(
                limits=limits, timeout=timeout, trust_env=False, verify=tls_context()
            )
            # queue here rather than in httpcore's pool, which rescans every waiting request
            # against every connection each time one frees up
            self._in_flight = asyncio.Semaphore(CONNECTIONS)
        return self._client

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(self, account: Account, url: str, payload: dict[str, Any]) -> bool:
        """Make the first attempt now; retries continue in the background.

        Returns whether the first attempt delivered the webhook.
        """
        body = serialize(payload)
        run_id = str(payload["runId"])
        self.activity.begin(run_id)
        try:
            delivered = await self._attempt(account, url, payload, body, 1)
        except BaseException:
            self.activity.end(run_id)
            raise
        if delivered or self.policy.attempts == 1:
            self.activity.end(run_id)
            return delivered
        task = asyncio.get_running_loop().create_task(
            self._retry(account, url, payload, body, run_id)
        )
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)
        return False

    async def _retry(
        self, account: Account, url: str, payload: dict[str, Any], body: bytes, run_id: str
    ) -> None:
        try:
            for attempt in range(2, self.policy.attempts + 1):
                await asyncio.sleep(self.policy.delay_before(attempt))
                if await self._attempt(account, url, payload, body, attempt):
                    return
        finally:
            self.activity.end(run_id)

    async def _attempt(
        self, account: Account, url: str, payload: dict[str, Any], body: bytes, attempt: int
    ) -> bool:
        if account.states.delivery_delay:
            await asyncio.sleep(account.states.delivery_delay)
        client = self._client_for_loop()
        assert self._in_flight is not None
        async with self._in_flight:  # sign at sending time, after any wait for a connection
            record = await self._send(client, account, url, payload, body, attempt)
        self.log.add(record)
        return record.error is None

    async def _send(
        self,
        client: httpx.AsyncClient,
        account: Account,
        url: str,
        payload: dict[str, Any],
        body: bytes,
        attempt: int,
    ) -> DeliveryAttempt:
        import httpx

        from pytest_helios.webhooks.signing import sign_webhook

        run_id = str(payload["runId"])
        headers = sign_webhook(
            body, account.webhook_secret, timestamp=int(time.time()), run_id=run_id
        )
        sent_at = utcnow()
        status_code: int | None = None
        error: str | None = None
        if account.take_dropped_delivery():
            error = "dropped (provider state)"
        else:
            try:
                response = await client.post(url, content=body, headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.TimeoutException:
                error = "timeout"
            except httpx.ConnectError as exc:
                error = _connect_error(exc)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        return DeliveryAttempt(
            run_id=run_id,
            sequence_number=int(payload["sequenceNumber"]),
            status=str(payload["status"]),
            url=url,
            attempt=attempt,
            sent_at=sent_at,
            status_code=status_code,
            error=error,
            headers=headers,
            body=body,
        )


def _connect_error(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return f"connection failed: {exc}"
