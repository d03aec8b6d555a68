"""httpx clients of the two documented Helios endpoints, and the errors they raise.

``HeliosClient`` and ``AsyncHeliosClient`` take the documented request fields, return the
accepted run, and turn the documented error statuses into exceptions: 401 ``HeliosAuthError``,
400 ``HeliosValidationError``, 429 ``HeliosRateLimited``, anything else ``HeliosError``. The API
key never appears in a repr, a log line or an exception message; only its masked form does.

Nor in a traceback, whatever pytest's ``--tb``, ``-l`` or ``-vv``: a client holds its key as a
``MaskedSecret`` from the first line that receives it, and every function here hides its frame
(``__tracebackhide__``), so neither the key nor the patient data of a request is shown among
a failed call's locals and arguments.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from pytest_helios.exceptions import (
    HeliosAuthError,
    HeliosError,
    HeliosRateLimited,
    HeliosValidationError,
)
from pytest_helios.facts import (
    AGENT_PATH,
    API_KEY_HEADER,
    BASE_URL,
    CONCURRENT_ACTIVE_HEADER,
    CONCURRENT_LIMIT_HEADER,
    CONCURRENT_REMAINING_HEADER,
    EHR_AGENT_TYPES,
    LAB_RESULTS_PATH,
)
from pytest_helios.masking import MaskedSecret, mask_secret, shorten
from pytest_helios.payloads.builders import serialize

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DEFAULT_BASE_URL",
    "AcceptedRun",
    "AsyncHeliosClient",
    "Concurrency",
    "FieldError",
    "HeliosClient",
    "VirtualClock",
]

#: Where the clients send requests unless given ``base_url`` or ``HELIOS_BASE_URL``.
DEFAULT_BASE_URL = BASE_URL
_USER_AGENT = "pytest-helios"


@dataclass(frozen=True)
class Concurrency:
    """The documented ``X-Concurrent-*`` headers of a response (``None`` where absent)."""

    limit: int | None
    active: int | None
    remaining: int | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Concurrency:
        return cls(
            limit=_int_header(headers, CONCURRENT_LIMIT_HEADER.lower()),
            active=_int_header(headers, CONCURRENT_ACTIVE_HEADER.lower()),
            remaining=_int_header(headers, CONCURRENT_REMAINING_HEADER.lower()),
        )


@dataclass(frozen=True)
class AcceptedRun:
    """A run Helios accepted: its id, and the concurrency headers of the answer."""

    run_id: str
    status: str
    message: str | None
    concurrency: Concurrency
    body: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class FieldError:
    """One bad field of a 400 answer: its dotted path and what is wrong with it."""

    field: str
    message: str


# --- requests -------------------------------------------------------------------------------


def agent_request_body(
    *, webhook_url: str, agent_type: str, data: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    __tracebackhide__ = True
    if agent_type not in EHR_AGENT_TYPES:
        valid = ", ".join(map(repr, EHR_AGENT_TYPES))
        raise HeliosError(f"agent_type must be one of {valid}, not {agent_type!r}")
    return {"webhookUrl": webhook_url, "agentType": agent_type, "data": dict(data), **extra}


def lab_results_request_body(
    *,
    lab_results: Sequence[Mapping[str, Any]],
    webhook_url: str | None,
    patient_context: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    __tracebackhide__ = True
    body: dict[str, Any] = {"labResults": [dict(lab) for lab in lab_results]}
    if webhook_url is not None:
        body["webhookUrl"] = webhook_url
    if patient_context is not None:
        body["patientContext"] = dict(patient_context)
    body.update(extra)
    return body


# --- responses ------------------------------------------------------------------------------


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _describe(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping):
        error, message = body.get("error"), body.get("message")
        parts = [str(p) for p in (error, message) if isinstance(p, str) and p]
        if parts:
            return ": ".join(parts)
    return fallback


def parse_response(
    response: httpx.Response, api_key: str, sent: Mapping[str, Any] | None = None
) -> AcceptedRun:
    """Turn an answer of either endpoint into an ``AcceptedRun`` or raise the matching error.

    Error messages quote what the server said; a server that echoes the key (in a JSON body,
    an HTML error page...) gets it masked there like everywhere else, and one that echoes a
    patient value of the request ``sent`` (a field the schemas mark identifying) gets the
    field's name in its place (``<patientContext.name>``).
    """
    __tracebackhide__ = True
    api_key = _held(api_key)
    try:
        return _parse_response(response, api_key)
    except HeliosError as error:
        raise _masking(error, api_key, sent) from None


#: Shorter patient values are not looked for in a message (too many false hits).
_MIN_ECHOED = 3


def _masking(
    error: HeliosError, api_key: str, sent: Mapping[str, Any] | None = None
) -> HeliosError:
    """``error`` with the key, and any patient value of the request, masked in its message."""
    __tracebackhide__ = True
    replacements = [(api_key, mask_secret(api_key))] if api_key else []
    if sent is not None:
        from pytest_helios.payloads.validation import identifying_values

        identifying = identifying_values(sent).items()
        replacements += [(v, f"<{p.removeprefix('$.')}>") for p, v in identifying]

    def masked(text: str) -> str:
        for value, shown in sorted(replacements, key=lambda r: len(r[0]), reverse=True):
            if value == api_key:
                text = text.replace(value, shown)
            elif len(value) >= _MIN_ECHOED and value in text:
                text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", shown, text)
        return text

    error.message = masked(error.message)
    error.args = (error.message,)
    if isinstance(error, HeliosValidationError):
        error.field_errors = [
            FieldError(field=e.field, message=masked(e.message)) for e in error.field_errors
        ]
    return error


def _parse_response(response: httpx.Response, api_key: str) -> AcceptedRun:
    __tracebackhide__ = True
    body = _json_body(response)
    concurrency = Concurrency.from_headers(response.headers)
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
    common: dict[str, Any] = {"status_code": status, "body": body, "concurrency": concurrency}
    if status == 200:
        run_id = body.get("runId") if isinstance(body, Mapping) else None
        if not isinstance(run_id, str) or not run_id:
            raise HeliosError(
                f"{where} answered 200 without a runId; body: {shorten(response.text, 200)}",
                **common,
            )
        message = body.get("message")
        return AcceptedRun(
            run_id=run_id,
            status=str(body.get("status")),
            message=message if isinstance(message, str) else None,
            concurrency=concurrency,
            body=body,
        )
    if status == 401:
        reason = _describe(body, "Unauthorized")
        raise HeliosAuthError(
            f"{where} refused the API key {mask_secret(api_key)} (401): {reason}", **common
        )
    if status == 400:
        errors = _field_errors(body)
        lines = [f"{where} rejected the request (400): {_describe(body, 'Bad Request')}"]
        lines += [f"  {e.field or '<body>'}: {e.message}" for e in errors]
        raise HeliosValidationError("\n".join(lines), field_errors=errors, **common)
    if status == 429:
        retry_after = _retry_after(response.headers)
        active = body.get("activeCount") if isinstance(body, Mapping) else None
        limit = body.get("limit") if isinstance(body, Mapping) else None
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        raise HeliosRateLimited(
            f"{where} is rate limited (429): {_describe(body, 'Too Many Requests')}{wait}",
            retry_after=retry_after,
            active_count=active if isinstance(active, int) else None,
            limit=limit if isinstance(limit, int) else None,
            **common,
        )
    detail = _describe(body, shorten(response.text, 200))
    raise HeliosError(f"{where} answered {status}: {detail}", **common)


def _field_errors(body: Any) -> list[FieldError]:
    details = body.get("details") if isinstance(body, Mapping) else None
    if not isinstance(details, list):
        return []
    return [
        FieldError(field=str(d.get("field", "")), message=str(d.get("message", "")))
        for d in details
        if isinstance(d, Mapping)
    ]


# --- time -----------------------------------------------------------------------------------


class VirtualClock:
    """A clock whose sleeps take no real time, for tests that meet a 429 and its Retry-After.

    ``sleep(s)`` (and ``await asleep(s)``, under asyncio or trio) advances :attr:`now` by ``s`` at
    once and appends ``s`` to :attr:`slept`, so a test is exact about what was waited without
    waiting. ``call_at(when, callback)`` runs ``callback`` once the clock reaches ``when``: the
    way a test makes the emulator change while the client "waits" (free the slots after 60 s,
    say). Pass it to a client as ``clock=``; the ``helios_clock`` fixture gives each test one
    that ``helios_client`` and ``helios_async_client`` use.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)
        self.slept: list[float] = []
        self._lock = threading.Lock()
        self._due: list[tuple[float, int, Callable[[], object]]] = []

    def time(self) -> float:
        """Seconds on this clock (``start`` plus everything slept)."""
        return self.now

    @property
    def total(self) -> float:
        """Every second slept so far."""
        return sum(self.slept)

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        """Run ``callback()`` when the clock reaches ``when`` (at once if it already has)."""
        import heapq

        with self._lock:
            heapq.heappush(self._due, (float(when), len(self.slept) + len(self._due), callback))
        self._run_due()

    def call_later(self, delay: float, callback: Callable[[], object]) -> None:
        """Run ``callback()`` once ``delay`` more seconds have been slept."""
        self.call_at(self.now + delay, callback)

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` at once, running the callbacks that fall due."""
        if seconds < 0:
            raise ValueError(f"a clock cannot sleep a negative time: {seconds!r}")
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds
        self._run_due()

    async def asleep(self, seconds: float) -> None:
        """``sleep`` for async code: returns at once (after one checkpoint), on any anyio
        backend (asyncio, trio)."""
        import anyio

        self.sleep(seconds)
        await anyio.sleep(0)

    def _run_due(self) -> None:
        import heapq

        while True:
            with self._lock:
                if not self._due or self._due[0][0] > self.now:
                    return
                _, _, callback = heapq.heappop(self._due)
            callback()

    def __repr__(self) -> str:
        return f"<VirtualClock now={self.now:g} slept={self.slept}>"


async def _anyio_sleep(seconds: float) -> None:
    """``anyio.sleep``: waits under whichever event loop runs the caller (asyncio or trio)."""
    import anyio

    await anyio.sleep(seconds)


# --- configuration --------------------------------------------------------------------------


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process.

    Loading the CA bundle costs about 0.2 s; without this every client (one per test with the
    fixtures) and every emulator start would pay it again.
    """
    return httpx.create_ssl_context()


def _held(api_key: str) -> MaskedSecret:
    """The key as the client holds it: the same string, with a masked ``repr``."""
    return api_key if isinstance(api_key, MaskedSecret) else MaskedSecret(api_key)


def _resolve(api_key: str | None, base_url: str | None) -> tuple[MaskedSecret, str]:
    __tracebackhide__ = True
    key = api_key if api_key is not None else os.environ.get("HELIOS_API_KEY")
    if not key:
        raise HeliosError("no Helios API key: pass api_key=... or set HELIOS_API_KEY")
    url = base_url or os.environ.get("HELIOS_BASE_URL") or DEFAULT_BASE_URL
    return _held(key), url.rstrip("/")


def _backoff(attempt: int, retry_after: float | None, max_wait: float) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): Retry-After if given, else 1, 2, 4…"""
    wanted = retry_after if retry_after is not None else float(2 ** (attempt - 1))
    return min(wanted, max_wait)


class _ClientBase:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        rate_limit_retries: int,
        max_retry_wait: float,
    ) -> None:
        __tracebackhide__ = True
        api_key = None if api_key is None else _held(api_key)
        if rate_limit_retries < 0:
            raise HeliosError(f"rate_limit_retries must be 0 or more, not {rate_limit_retries!r}")
        self._api_key, self.base_url = _resolve(api_key, base_url)
        self.timeout = timeout
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_wait = max_retry_wait

    def _verify(self) -> ssl.SSLContext | bool:
        """The TLS context of an https:// base URL. A plain http:// one (the emulator on
        loopback) never uses TLS, so its client skips loading the CA bundle (about 50 ms)."""
        return tls_context() if self.base_url.startswith("https:") else False

    def with_key(self, api_key: str) -> Self:
        """The same client sending another key (a revoked one, say).

        It shares this client's connections, so nothing new needs closing: closing either
        client closes both.
        """
        __tracebackhide__ = True
        api_key = _held(api_key)
        clone = copy.copy(self)
        clone._api_key = api_key
        return clone

    def _failed(self, path: str, exc: httpx.HTTPError) -> HeliosError:
        """The error for a request that got no answer, with the key masked."""
        __tracebackhide__ = True
        failed = HeliosError(f"POST {path} failed: {type(exc).__name__}: {exc}")
        return _masking(failed, self._api_key)

    def _retry_delay(self, attempt: int, exc: HeliosRateLimited) -> float:
        """Seconds to wait before retry ``attempt`` of a 429; raises ``exc`` once they are spent."""
        __tracebackhide__ = True
        if attempt > self.rate_limit_retries:
            raise exc
        return _backoff(attempt, exc.retry_after, self.max_retry_wait)

    @property
    def api_key(self) -> str:
        """The key this client sends, a ``MaskedSecret``: kept out of reprs and messages."""
        return self._api_key

    def _headers(self) -> dict[str, str]:
        __tracebackhide__ = True
        return {
            API_KEY_HEADER: self._api_key,
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": _USER_AGENT,
        }

    @staticmethod
    def _encode(body: Mapping[str, Any]) -> bytes:
        __tracebackhide__ = True
        return serialize(body)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"api_key={mask_secret(self._api_key)!r})"
        )


class HeliosClient(_ClientBase):
    """Synchronous client of the Helios API.

    ``api_key`` and ``base_url`` default to ``HELIOS_API_KEY`` and ``HELIOS_BASE_URL`` (then the
    real API). With ``rate_limit_retries=n`` a 429 is retried up to n times, waiting
    ``Retry-After`` seconds (at most ``max_retry_wait``), else 1, 2, 4… seconds: with
    ``time.sleep``, or ``sleep=``, or ``clock=`` (a :class:`VirtualClock`, whose sleeps take no
    real time). ``transport`` lets a test route requests in-process, for example to the
    emulator's ASGI app.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        rate_limit_retries: int = 0,
        max_retry_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: VirtualClock | None = None,
    ) -> None:
        __tracebackhide__ = True
        api_key = None if api_key is None else _held(api_key)
        super().__init__(api_key, base_url, timeout, rate_limit_retries, max_retry_wait)
        self.clock = clock
        self._sleep = sleep or (clock.sleep if clock is not None else time.sleep)
        self._transport = transport
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, verify=self._verify()
        )

    def submit_agent(
        self,
        *,
        webhook_url: str,
        agent_type: str,
        data: Mapping[str, Any],
        **extra: Any,
    ) -> AcceptedRun:
        """``POST /api/v1/agent``: start an EHR Agent run (``agent_type`` ``light`` or ``deep``)."""
        __tracebackhide__ = True
        body = agent_request_body(
            webhook_url=webhook_url, agent_type=agent_type, data=data, extra=extra
        )
        return self.post(AGENT_PATH, body)

    def submit_lab_results(
        self,
        *,
        lab_results: Sequence[Mapping[str, Any]],
        webhook_url: str | None = None,
        patient_context: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> AcceptedRun:
        """``POST /api/v1/lab-results``: start a Lab Results Agent run."""
        __tracebackhide__ = True
        body = lab_results_request_body(
            lab_results=lab_results,
            webhook_url=webhook_url,
            patient_context=patient_context,
            extra=extra,
        )
        return self.post(LAB_RESULTS_PATH, body)

    def post(self, path: str, body: Mapping[str, Any]) -> AcceptedRun:
        """POST a JSON body to ``path`` with the key, retrying 429s as configured."""
        __tracebackhide__ = True
        content = self._encode(body)
        attempt = 0
        while True:
            try:
                response = self._http.post(path, content=content, headers=self._headers())
            except httpx.HTTPError as exc:
                raise self._failed(path, exc) from None
            try:
                return parse_response(response, self._api_key, body)
            except HeliosRateLimited as exc:
                attempt += 1
                self._sleep(self._retry_delay(attempt, exc))

    def close(self) -> None:
        __tracebackhide__ = True
        self._http.close()

    def __enter__(self) -> HeliosClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        __tracebackhide__ = True
        self.close()


class AsyncHeliosClient(_ClientBase):
    """Asynchronous twin of ``HeliosClient`` (same arguments, ``await``-able methods).

    Each call opens and closes its own connection, so one client can be used from any event
    loop (a sync fixture, pytest-asyncio, anyio) and never leaks a socket bound to a closed loop.
    Helios runs take minutes; connection reuse would save nothing that matters. A 429 retry
    waits with ``anyio.sleep`` (asyncio or trio), ``sleep=`` or ``clock=``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        rate_limit_retries: int = 0,
        max_retry_wait: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: VirtualClock | None = None,
    ) -> None:
        __tracebackhide__ = True
        api_key = None if api_key is None else _held(api_key)
        super().__init__(api_key, base_url, timeout, rate_limit_retries, max_retry_wait)
        self.clock = clock
        self._sleep = sleep or (clock.asleep if clock is not None else _anyio_sleep)
        self._transport = transport

    async def submit_agent(
        self,
        *,
        webhook_url: str,
        agent_type: str,
        data: Mapping[str, Any],
        **extra: Any,
    ) -> AcceptedRun:
        """``POST /api/v1/agent``: start an EHR Agent run (``agent_type`` ``light`` or ``deep``)."""
        __tracebackhide__ = True
        body = agent_request_body(
            webhook_url=webhook_url, agent_type=agent_type, data=data, extra=extra
        )
        return await self.post(AGENT_PATH, body)

    async def submit_lab_results(
        self,
        *,
        lab_results: Sequence[Mapping[str, Any]],
        webhook_url: str | None = None,
        patient_context: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> AcceptedRun:
        """``POST /api/v1/lab-results``: start a Lab Results Agent run."""
        __tracebackhide__ = True
        body = lab_results_request_body(
            lab_results=lab_results,
            webhook_url=webhook_url,
            patient_context=patient_context,
            extra=extra,
        )
        return await self.post(LAB_RESULTS_PATH, body)

    async def post(self, path: str, body: Mapping[str, Any]) -> AcceptedRun:
        """POST a JSON body to ``path`` with the key, retrying 429s as configured."""
        __tracebackhide__ = True
        content = self._encode(body)
        attempt = 0
        while True:
            try:
                async with httpx.AsyncClient(
                    base_url=self.base_url,
                    timeout=self.timeout,
                    verify=self._verify(),
                    transport=_Borrowed(self._transport) if self._transport else None,
                ) as http:
                    response = await http.post(path, content=content, headers=self._headers())
            except httpx.HTTPError as exc:
                raise self._failed(path, exc) from None
            try:
                return parse_response(response, self._api_key, body)
            except HeliosRateLimited as exc:
                attempt += 1
                await self._sleep(self._retry_delay(attempt, exc))

    async def aclose(self) -> None:
        """Nothing stays open between calls; kept so the client reads like any httpx client."""

    async def __aenter__(self) -> AsyncHeliosClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Borrowed(httpx.AsyncBaseTransport):
    """Lends a caller's transport to a short-lived ``httpx.AsyncClient`` without closing it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        __tracebackhide__ = True
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass
