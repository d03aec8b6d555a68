"""A local webhook endpoint for tests: captures Helios deliveries and verifies each one.

``WebhookReceiver`` is a real HTTP server on 127.0.0.1 (a free port) whose ``url`` can be passed
as ``webhookUrl``. Every delivery is kept with its raw bytes, headers and verdict; deliveries
that verify are answered 200, the rest 400 with the reason. A test can wait for a run's final
payload, list a run's payloads in ``sequenceNumber`` order without duplicates, or make the next
deliveries fail to exercise the sender's retries.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_helios.facts import TIMESTAMP_TOLERANCE

__all__ = ["ReceivedWebhook", "WebhookReceiver"]

FINAL_STATUSES = ("completed", "error")
Secrets = str | Sequence[str] | Callable[[], str | Sequence[str]]


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST the receiver got: raw body and headers as sent, and what verification said."""

    path: str
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    received_at: float
    answered: int
    payload: dict[str, Any] | None = None
    rejection: str | None = None

    @property
    def verified(self) -> bool:
        return self.payload is not None

    @property
    def run_id(self) -> str | None:
        return None if self.payload is None else self.payload.get("runId")

    @property
    def sequence_number(self) -> int | None:
        return None if self.payload is None else self.payload.get("sequenceNumber")


class _Server(ThreadingHTTPServer):
    """Keeps its open connections, so closing the receiver ends them too: the sender's
    keep-alive connection then sees the end at once, and no handler thread is left waiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            # the read side only: a handler waiting for the next request sees the end and
            # closes; one still writing its answer finishes it first
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)


class WebhookReceiver:
    """A capturing, verifying webhook endpoint on loopback (use as a context manager)."""

    def __init__(
        self,
        secrets: Secrets,
        *,
        tolerance: int = TIMESTAMP_TOLERANCE,
        path: str = "/webhook",
        default_timeout: float = 10.0,
    ) -> None:
        self._secrets = secrets
        self.tolerance = tolerance
        self.default_timeout = default_timeout
        self.path = path
        self._deliveries: list[ReceivedWebhook] = []
        self._failures: list[int] = []
        self._changed = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: with Nagle's algorithm on, an answer that leaves in two sends meets
            # the sender's delayed ACK and every delivery waits about 40 ms for nothing
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                lengths = self.headers.get_all("content-length") or ["0"]
                if len(lengths) != 1 or not lengths[0].strip().isdigit():
                    # unreadable framing: answer and close, never guess where the body ends
                    self.close_connection = True
                    self._answer(400, f"invalid Content-Length: {lengths!r}")
                    return
                body = self.rfile.read(int(lengths[0]))
                status, text = receiver._receive(self.path, body, self.headers.items())
                self._answer(status, text)

            def _answer(self, status: int, text: str) -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="helios-webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        server = self._server
        # shutdown() returns when serve_forever next wakes, up to its poll interval later; a
        # connection wakes it at once (the test would otherwise wait ~50 ms at every teardown)
        stopping = threading.Thread(target=server.shutdown, name="helios-receiver-stop")
        stopping.start()
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=1),
        ):
            pass
        stopping.join()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The URL to pass as ``webhookUrl``."""
        if self._server is None:
            raise RuntimeError("the webhook receiver is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    # --- behaviour -------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 503) -> None:
        """Answer the next ``count`` deliveries with ``status`` (and keep them as failed)."""
        if count < 0 or not 100 <= status <= 599:
            raise ValueError(f"fail_next needs a count >= 0 and an HTTP status: {count}, {status}")
        with self._changed:
            self._failures.extend([status] * count)

    def _current_secrets(self) -> list[str]:
        value = self._secrets() if callable(self._secrets) else self._secrets
        return [value] if isinstance(value, str) else list(value)

    def _receive(
        self, path: str, body: bytes, header_items: Sequence[tuple[str, str]] | Any
    ) -> tuple[int, str]:
        from pytest_helios.exceptions import WebhookVerificationError
        from pytest_helios.webhooks.signing import verify_webhook

        pairs = list(header_items)  # every header as sent: a repeated one must be seen
        headers = {name: value for name, value in pairs}
        with self._changed:
            forced = self._failures.pop(0) if self._failures else None
        payload: dict[str, Any] | None = None
        rejection: str | None = None
        if forced is not None:
            status, rejection = forced, f"answered {forced} by fail_next()"
        else:
            try:
                payload = verify_webhook(
                    body, pairs, self._current_secrets(), tolerance=self.tolerance
                )
                status = 200
            except WebhookVerificationError as exc:
                status, rejection = 400, f"{type(exc).__name__}: {exc}"
        delivery = ReceivedWebhook(
            path=path,
            body=body,
            headers=headers,
            received_at=time.time(),
            answered=status,
            payload=payload,
            rejection=rejection,
        )
        with self._changed:
            self._deliveries.append(delivery)
            self._changed.notify_all()
        return status, "ok" if status == 200 else (rejection or "rejected")

    # --- what arrived ------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[ReceivedWebhook]:
        """Every POST received so far, in arrival order (failed and rejected ones included)."""
        with self._changed:
            return list(self._deliveries)

    @property
    def rejected(self) -> list[ReceivedWebhook]:
        """Deliveries that did not verify (or were failed on purpose)."""
        return [d for d in self.deliveries if not d.verified]

    def payloads(self, run_id: str) -> list[dict[str, Any]]:
        """The verified payloads of a run, ordered by ``sequenceNumber``, each number once.

        This is what a correct handler does with deliveries that may arrive out of order and
        more than once: dedupe on ``(runId, sequenceNumber)`` and sort.
        """
        seen: dict[Any, dict[str, Any]] = {}
        for delivery in self.deliveries:
            if delivery.payload is not None and delivery.run_id == run_id:
                seen.setdefault(delivery.sequence_number, delivery.payload)
        return [seen[n] for n in sorted(seen, key=lambda n: (not isinstance(n, int), n))]

    def wait_for_final(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the run's final payload (``completed`` or ``error``) and return it.

        ``timeout`` defaults to ``default_timeout`` (``--helios-webhook-timeout`` in fixtures).
        """
        __tracebackhide__ = True
        timeout = self.default_timeout if timeout is None else timeout

        def final() -> dict[str, Any] | None:
            for payload in self.payloads(run_id):
                if payload.get("status") in FINAL_STATUSES:
                    return payload
            return None

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = final()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
        raise AssertionError(self._timeout_report(run_id, timeout))

    async def wait_for_final_async(
        self, run_id: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """``wait_for_final`` for async tests: awaits without blocking the event loop.

        Works under any event loop anyio supports (asyncio and trio): the wait runs in a worker
        thread, woken the moment the final payload arrives.
        """
        __tracebackhide__ = True
        import anyio.to_thread

        return await anyio.to_thread.run_sync(
            self.wait_for_final, run_id, timeout, abandon_on_cancel=True
        )

    def _timeout_report(self, run_id: str, timeout: float) -> str:
        lines = [f"no final webhook for run {run_id} within {timeout:g} s"]
        arrived = self.deliveries
        mine = [d for d in arrived if d.run_id == run_id or d.payload is None]
        if not arrived:
            lines.append("no delivery arrived at all at " + self.url)
        for d in mine:
            if d.payload is not None:
                lines.append(
                    f"  received sequenceNumber {d.sequence_number}: status "
                    f"{d.payload.get('status')!r}"
                )
            else:
                lines.append(f"  rejected ({d.answered}): {d.rejection}")
        return "\n".join(lines)
