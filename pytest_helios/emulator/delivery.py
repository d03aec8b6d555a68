"""Signed webhook delivery with retries, and the log of every attempt.

Each webhook body is serialised once; every attempt sends those same bytes, signed at sending
time with the account's *current* secret and stamped with the current Unix time (so a secret
regenerated between two attempts signs the next one). A 2xx answer delivers the webhook; any
other status, a timeout or a refused connection is retried after ``backoff * 2**(n-1)``
seconds, up to ``attempts`` attempts in all.

Where a webhook may go is checked twice: at submit (``request_checks.WebhookTargets``: loopback,
or a host the user allowed) and again when connecting, on the addresses the host name resolves
to, so no name that resolves to the emulator's own port and no host that was not allowed is
ever connected to (such an attempt is logged as ``refused: ...`` and not retried). Each account
has its own :data:`CONNECTIONS_PER_ACCOUNT` concurrent attempts, so an account whose receiver
hangs never holds up another account's deliveries.
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

from .loop import Activity, throttled_logger
from .plain_http import DeliveryRefused, PlainHttpClient, is_plain
from .request_checks import WebhookTargets, is_reserved, reaches_this_machine
from .state import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from .state import Account

_log = throttled_logger("pytest_helios.emulator.delivery")


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


#: Concurrent delivery attempts of one account (to all of its receivers together).
CONNECTIONS_PER_ACCOUNT = 16
#: Idle keep-alive connections the delivery client keeps, to all receivers together.
IDLE_CONNECTIONS = 8
#: What the delivery log says of an attempt refused before connecting; never retried.
REFUSED = "refused: "


class Deliverer:
    """Delivers webhooks from the emulator's event loop."""

    def __init__(
        self,
        policy: DeliveryPolicy,
        log: DeliveryLog,
        targets: WebhookTargets | None = None,
        own_port: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.policy = policy
        self.log = log
        self.targets = targets or WebhookTargets()
        self.own_port = own_port
        #: each account's own clients, by kind ("plain", "http", "https": see
        #: :meth:`_client_for`): one account's connections, busy or idle, never push out
        #: another's
        self._clients: dict[tuple[str, str], Any] = {}
        self._contexts: dict[bool, Any] = {}
        self._in_flight: dict[str, int] = {}
        self._retired: set[str] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._retries: set[asyncio.Task[None]] = set()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._delay_changed: dict[str, asyncio.Event] = {}
        self.activity = Activity()
        #: hosts whose webhooks go into an app in-process (HeliosEmulator.route_webhooks)
        self.routes = WebhookRoutes(policy.timeout)

    def _client_for(self, account_id: str, url: str) -> Any:
        """The account's delivery client for ``url``: ``http://`` URLs at an IP address (the
        loopback receivers of tests) get the small :class:`~.plain_http.PlainHttpClient`,
        unless something patches httpx's transport (vcrpy while a cassette records, capturing
        the deliveries that pass through; a mocking library): then httpx sends, as before;
        https URLs an httpx client that verifies certificates; other http ones (a host name to
        look up) an httpx client that never loads the CA bundle (~50 ms). Each account has its
        own, so its idle connections (at most IDLE_CONNECTIONS) are never closed to make room
        for another account's: a noisy account's receivers cannot make a quiet one reconnect
        for every webhook."""
        tls = url[:6].lower() == "https:"
        kind = "plain" if is_plain(url) and not _httpx_patched() else "https" if tls else "http"
        client = self._clients.get((account_id, kind))
        if client is None:
            if kind == "plain":
                client = PlainHttpClient(self._refusal, self.policy.timeout, IDLE_CONNECTIONS)
            else:
                client = self._new_client(tls)
            self._clients[account_id, kind] = client
        return client

    def retire(self, account_id: str) -> None:
        """(On the loop.) The account is forgotten: its clients close as soon as none of its
        attempts is in flight (and again whenever a late retry of its runs has used one)."""
        self._retired.add(account_id)
        self._close_if_idle(account_id)

    def _close_if_idle(self, account_id: str) -> None:
        if account_id not in self._retired or self._in_flight.get(account_id):
            return
        self._slots.pop(account_id, None)
        self._delay_changed.pop(account_id, None)
        for kind in ("plain", "http", "https"):
            client = self._clients.pop((account_id, kind), None)
            if client is not None:
                task = asyncio.get_running_loop().create_task(client.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def _new_client(self, tls: bool) -> httpx.AsyncClient:
        import ssl

        import httpx

        from pytest_helios.client import tls_context

        # a plain client's context is never used (no TLS to http:// URLs, no redirects); one of
        # each kind, shared by every account's clients
        context = self._contexts.get(tls)
        if context is None:
            context = tls_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self._contexts[tls] = context
        # no pool-wide cap: each account's semaphore bounds its own attempts, so one
        # account's hanging receiver never takes the connections another account needs.
        # Few idle connections: httpcore walks its idle list once per idle connection at
        # every request (quadratic), so 64 idle ones (a receiver per test) cost ~3 ms a
        # delivery; a run's webhooks reuse one connection anyway
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=IDLE_CONNECTIONS)
        transport = _guarded_transport(self._refusal, context, limits)
        timeout = httpx.Timeout(self.policy.timeout)
        return httpx.AsyncClient(
            transport=transport, timeout=timeout, trust_env=False, follow_redirects=False
        )

    def _refusal(self, host: str, address: str | None, port: int) -> str | None:
        """Why an attempt to ``host`` must not connect (``address`` ``None``: must not even
        look the name up), or to ``address``:``port`` once looked up; else None."""
        if address is None:
            if self.targets.allows(host):
                return None
            if is_reserved(host):
                return f"{host} is a reserved name that never resolves; nothing was sent"
            return f"{host} is not loopback and not an allowed webhook host; nothing was sent"
        own = self.own_port()
        if own is not None and port == own and reaches_this_machine(address):
            return (
                f"{host}:{port} is the emulator itself; webhooks never go to the emulator's "
                "own address"
            )
        return None

    def wake(self, account_id: str) -> None:
        """(On the loop.) The account's delivery delay changed: attempts waiting it out look
        again, so ending the state releases them at once."""
        changed = self._delay_changed.pop(account_id, None)
        if changed is not None:
            changed.set()

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def deliver(self, account: Account, url: str, payload: dict[str, Any]) -> bool:
        """Make the first attempt now; retries continue in the background.

        Returns whether the first attempt delivered the webhook.
        """
        body = serialize(payload)
        run_id = str(payload["runId"])
        self.activity.begin(run_id)
        try:
            delivered, final = await self._attempt(account, url, payload, body, 1)
        except BaseException:
            self.activity.end(run_id)
            raise
        if delivered or final or self.policy.attempts == 1:
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
                delivered, final = await self._attempt(account, url, payload, body, attempt)
                if delivered or final:
                    return
        except Exception as exc:  # never "Task exception was never retrieved"
            _log.error(
                "retrying a webhook of run %s failed: %s: %s", run_id, type(exc).__name__, exc,
                key=("retry", type(exc).__name__),
            )  # fmt: skip
        finally:
            self.activity.end(run_id)

    async def _wait_out_delay(self, account: Account) -> None:
        """Wait the account's ``slow-deliveries`` delay, as it stands while waiting: ending the
        state (or shortening it) lets the attempt go at once."""
        if not account.states.delivery_delay:
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            changed = self._delay_changed.setdefault(account.id, asyncio.Event())
            remaining = start + account.states.delivery_delay - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _slot(self, account_id: str) -> asyncio.Semaphore:
        slot = self._slots.get(account_id)
        if slot is None:
            slot = self._slots[account_id] = asyncio.Semaphore(CONNECTIONS_PER_ACCOUNT)
        return slot

    async def _attempt(
        self, account: Account, url: str, payload: dict[str, Any], body: bytes, attempt: int
    ) -> tuple[bool, bool]:
        """One attempt: whether it delivered, and whether it was final (refused: no retry)."""
        await self._wait_out_delay(account)
        self._in_flight[account.id] = self._in_flight.get(account.id, 0) + 1
        try:
            client = self.routes.client(account.id, url) or self._client_for(account.id, url)
            async with self._slot(account.id):  # sign at sending time, after any wait
                record = await self._send(client, account, url, payload, body, attempt)
        finally:
            left = self._in_flight[account.id] - 1
            if left:
                self._in_flight[account.id] = left
            else:
                del self._in_flight[account.id]
                self._close_if_idle(account.id)
        self.log.add(record)
        error = record.error
        return error is None, error is not None and error.startswith(REFUSED)

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
            body, account.signing_secret(), timestamp=int(time.time()), run_id=run_id
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
                error = f"{type(exc).__name__}: {_short(str(exc))}"
            except Exception as exc:  # a URL the client cannot even send to: logged, not raised
                error = f"failed: {type(exc).__name__}: {_short(str(exc))}"
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


#: Where vcrpy (9: the transport; before 8.2: the client), pytest-httpx and respx (the client's
#: transport lookup, or httpcore's pool) replace httpx's sending, and whose module the
#: original comes from.
_PATCH_POINTS = (
    ("httpx", "AsyncHTTPTransport", "handle_async_request", "httpx._transports.default"),
    ("httpx", "AsyncClient", "_send_single_request", "httpx._client"),
    ("httpx", "AsyncClient", "_transport_for_url", "httpx._client"),
    ("httpcore", "AsyncConnectionPool", "handle_async_request", "httpcore._async.connection_pool"),
)


def _httpx_patched() -> bool:
    """Whether something (vcrpy, pytest-httpx, respx) has replaced part of httpx's or httpcore's
    async sending, and so wants to see the deliveries."""
    import importlib

    for module, owner, name, origin in _PATCH_POINTS:
        found = getattr(getattr(importlib.import_module(module), owner, None), name, None)
        # a stand-in made with functools.wraps keeps the module but has __wrapped__; a mock
        # object's module is unittest.mock
        if found is None or hasattr(found, "__wrapped__"):
            return True
        if getattr(found, "__module__", None) != origin:
            return True
    return False


def _short(text: str) -> str:
    from pytest_helios.masking import shorten

    return shorten(text, 200)


def _connect_error(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DeliveryRefused):
            return REFUSED + str(cause)
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return f"connection failed: {_short(str(exc))}"


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _guarded_transport_class() -> type:
    """Built on first use: httpx and httpcore load only when an emulator delivers."""
    import httpcore
    import httpx

    class Refused(DeliveryRefused, httpcore.ConnectError):
        pass

    class GuardedBackend(httpcore.AsyncNetworkBackend):
        """Connects by address, after resolving the host itself and asking ``refusal`` about
        each address (TLS still checks the certificate against the host name)."""

        def __init__(self, refusal: Callable[[str, str | None, int], str | None]) -> None:
            self._inner = httpcore.AnyIOBackend()
            self._refusal = refusal

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> httpcore.AsyncNetworkStream:
            import socket

            before = self._refusal(host, None, port)
            if before is not None:
                raise Refused(before)
            if _is_address(host):
                addresses = [host]
            else:
                loop = asyncio.get_running_loop()
                try:
                    found = await asyncio.wait_for(
                        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
                    )
                except asyncio.TimeoutError:
                    raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
                except OSError as exc:
                    raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
                addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
            reasons = [self._refusal(host, address, port) for address in addresses]
            allowed = [a for a, reason in zip(addresses, reasons, strict=True) if reason is None]
            if not allowed:
                raise Refused(next((r for r in reasons if r), f"{host} resolves to nothing"))
            last: Exception | None = None
            for address in allowed:
                try:
                    return await self._inner.connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                except httpcore.ConnectError as exc:
                    last = exc
            raise last or httpcore.ConnectError(f"cannot connect to {host}")

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> httpcore.AsyncNetworkStream:
            raise Refused("webhooks go to TCP addresses only")

        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(seconds)

    class GuardedTransport(httpx.AsyncHTTPTransport):
        def __init__(
            self,
            refusal: Callable[[str, str | None, int], str | None],
            context: Any,
            limits: httpx.Limits,
        ) -> None:
            super().__init__(verify=context, limits=limits, trust_env=False)
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=GuardedBackend(refusal),
            )

    return GuardedTransport


def _guarded_transport(
    refusal: Callable[[str, str | None, int], str | None], context: Any, limits: httpx.Limits
) -> httpx.AsyncBaseTransport:
    global _TRANSPORT
    if _TRANSPORT is None:
        _TRANSPORT = _guarded_transport_class()
    transport: httpx.AsyncBaseTransport = _TRANSPORT(refusal, context, limits)
    return transport


_TRANSPORT: Any = None


# --- webhooks routed into an app, in-process (HeliosEmulator.route_webhooks) -------------------


def _route_host(host: str) -> str:
    """``host`` as a route's key (lowercase, no trailing dot); ``ValueError`` if it is no host
    name."""
    if not isinstance(host, str) or not host.strip(". ") or any(c in host for c in "/:@*? \t"):
        raise ValueError(
            f"route_webhooks: host must be a host name such as 'gateway.test', got {host!r}"
        )
    return host.lower().rstrip(".")


def _url_host(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


class WebhookRoute:
    """A host whose webhooks go into an app in-process, for every account or for one; ends
    with :meth:`remove` or at the end of a ``with`` block (an account's, when it is forgotten)."""

    def __init__(self, routes: WebhookRoutes, host: str, account_id: str | None) -> None:
        self.host = host
        self.account_id = account_id
        self._routes = routes

    def remove(self) -> None:
        """End the route (a later route of the same host and account stays)."""
        self._routes.remove(self)

    def __enter__(self) -> WebhookRoute:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        whose = f" of account {self.account_id}" if self.account_id else ""
        return f"<WebhookRoute {self.host}{whose}>"


class WebhookRoutes:
    """The routes of one emulator: ``(account id or None, host)`` to a client whose transport
    calls the app. Looked up for every attempt; with no route, a dictionary test and nothing
    else."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._clients: dict[tuple[str | None, str], tuple[WebhookRoute, httpx.AsyncClient]] = {}

    def add(self, host: str, app: Any, account_id: str | None = None) -> WebhookRoute:
        import httpx

        key = (account_id, _route_host(host))
        client = httpx.AsyncClient(
            transport=_app_transport(app, self._timeout), trust_env=False, follow_redirects=False
        )
        route = WebhookRoute(self, key[1], account_id)
        with self._lock:
            self._clients[key] = (route, client)
        return route

    def remove(self, route: WebhookRoute) -> None:
        key = (route.account_id, route.host)
        with self._lock:
            if self._clients.get(key, (None,))[0] is route:
                del self._clients[key]

    def forget_account(self, account_id: str) -> None:
        """Drop the routes of an account (it is being forgotten)."""
        with self._lock:
            for key in [k for k in self._clients if k[0] == account_id]:
                del self._clients[key]

    def routes(self, url: str) -> bool:
        """Whether some route, of any account, takes webhooks to ``url``'s host."""
        if not self._clients:
            return False
        host = _url_host(url)
        return host is not None and any(h == host for _, h in list(self._clients))

    def client(self, account_id: str, url: str) -> httpx.AsyncClient | None:
        """The client of the account's route to ``url``'s host, else of the emulator-wide one,
        else ``None`` (an ordinary delivery)."""
        if not self._clients:
            return None
        host = _url_host(url)
        found = self._clients.get((account_id, host or "")) or self._clients.get((None, host or ""))
        return found[1] if found is not None else None


@dataclass(frozen=True, eq=False)
class RoutedTargets(WebhookTargets):
    """:class:`WebhookTargets` that also accept a ``webhookUrl`` of a routed host, with
    ``http://`` or ``https://``: nothing leaves the process, so neither rule of the sandbox
    applies."""

    routes: WebhookRoutes | None = None

    def url_error(self, url: str) -> str | None:
        if self.routes is not None and self.routes.routes(url):
            return None
        return super().url_error(url)

    def sandbox_error(self, url: str, own_port: int | None = None) -> str | None:
        if self.routes is not None and self.routes.routes(url):
            return None
        return super().sandbox_error(url, own_port)


def _app_transport(app: Any, timeout: float) -> httpx.AsyncBaseTransport:
    """An async httpx transport into a WSGI app (called on a worker thread) or an ASGI app
    (on the emulator's loop); an app that raises answers 500, one that takes longer than
    ``timeout`` seconds is a timeout, as a server's would be."""
    import httpx

    from pytest_helios.webhooks.sending import detect_interface

    kind = detect_interface(app)
    if kind == "url":
        raise TypeError(
            "route_webhooks takes a WSGI or an ASGI app; a URL needs no route: send it as the "
            "webhookUrl"
        )
    asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False) if kind == "asgi" else None
    wsgi = httpx.WSGITransport(app=app, raise_app_exceptions=False) if kind == "wsgi" else None

    def call_wsgi(request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if wsgi is None:  # never: an ASGI app is awaited
            raise TypeError("not a WSGI app")
        try:
            response = wsgi.handle_request(request)
            return response.status_code, response.headers.raw, response.read()
        except Exception:  # the 500 a WSGI server answers when its app raises
            return 500, [], b"Internal Server Error"

    async def handle(request: httpx.Request) -> httpx.Response:
        if asgi is not None:
            return await asgi.handle_async_request(request)
        content = await request.aread()
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        status, headers, body = await asyncio.to_thread(call_wsgi, inner)
        return httpx.Response(status, headers=headers, content=body)

    class AppTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                return await asyncio.wait_for(handle(request), timeout)
            except asyncio.TimeoutError:
                raise httpx.ReadTimeout(
                    f"the app did not answer within {timeout} s", request=request
                ) from None

    return AppTransport()
