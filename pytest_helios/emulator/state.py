"""Accounts, API keys and webhook secrets of the emulator, and the authentication decision.

Keys are stored as SHA-256 digests only: the plaintext exists once, on the :class:`ApiKey`
object handed to whoever created it (the dashboard shows a key "only once"). A presented key is
hashed and looked up by digest, and the stored digest is then compared with
:func:`hmac.compare_digest`, so the time taken does not depend on how much of a key was right.

Everything here is guarded by one lock: the HTTP app (on the emulator's event loop) and test code
(on the main thread) use the same registry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from pytest_helios.facts import (
    API_KEY_PREFIX,
    FOREIGN_KEY,
    INVALID_KEY,
    MISSING_KEY,
    REVOKED_KEY,
    check_agent,
)
from pytest_helios.webhooks.signing import new_webhook_secret


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


#: The provider states' ranges (docs/emulator.md, "Provider states").
MAX_DELIVERY_DELAY = 60.0
MAX_DROPPED = 10_000
MAX_STEP = 9  # the largest final sequenceNumber (light: 8 steps, then its result)
MAX_PHANTOM_RUNS = 1_000_000
MAX_QUEUED_FAILURES = 1_000
MAX_TEXT = 1_000
#: Fault injection's ranges (docs/emulator.md, "Fault injection").
MAX_FAULT_DELAY = 300.0
MAX_FAULT_COUNT = 10_000
MAX_QUEUED_FAULTS = 1_000
#: How long a ``timeout`` fault holds the answer unless told: past any client's usual timeout.
DEFAULT_HOLD = 60.0
#: The request faults and what each does to the answer (docs/emulator.md).
REQUEST_FAULTS = (
    "status",
    "timeout",
    "reset",
    "malformed",
    "truncated",
    "no-run-id",
    "slow-accept",
)


class ProviderStateError(ValueError):
    """A provider state refused: names the argument, the range it takes and the value given."""

    def __init__(self, argument: str, expected: str, value: object) -> None:
        self.argument = argument
        self.expected = expected
        self.value = value
        #: What is wrong, without the argument's name: "must be ..., got ...".
        self.detail = f"must be {expected}, got {_shown(value)}"
        super().__init__(f"{argument} {self.detail}")


def _shown(value: object) -> str:
    from pytest_helios.masking import shorten

    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"an integer of {value.bit_length() if isinstance(value, int) else '?'} bits"
    return shorten(text, 60)


def _whole_number(argument: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProviderStateError(argument, f"a whole number from {low} to {high:,}", value)


def _seconds(argument: str, value: object, low: float, high: float, *, above: bool) -> float:
    """A finite number of seconds in range: above ``low`` (``above``) or from it, up to ``high``."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value > low if above else value >= low)
        and value <= high
    )
    if not ok:
        lower = f"above {low:g}" if above else f"from {low:g}"
        raise ProviderStateError(argument, f"a number of seconds {lower} to {high:g}", value)
    return float(value)  # type: ignore[arg-type]


def _agent(agent: object) -> str:
    return check_agent(agent)  # ValueError: "'ehr' is not a valid agent. Valid values: ..."


@dataclass
class _KeyRecord:
    """What the emulator keeps about a key: never its plaintext."""

    id: str
    name: str
    account_id: str
    digest: bytes
    last4: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKey:
    """A named API key of an account, as returned by :meth:`Account.create_key`.

    ``value`` is the plaintext, available only on this object; ``created_at``,
    ``last_used_at`` and ``revoked`` always show the emulator's current view of the key.
    """

    __slots__ = ("_record", "value")

    def __init__(self, record: _KeyRecord, value: str) -> None:
        self._record = record
        self.value = value

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def account_id(self) -> str:
        return self._record.account_id

    @property
    def created_at(self) -> datetime:
        return self._record.created_at

    @property
    def last_used_at(self) -> datetime | None:
        return self._record.last_used_at

    @property
    def revoked(self) -> bool:
        return self._record.revoked_at is not None

    @property
    def revoked_at(self) -> datetime | None:
        return self._record.revoked_at

    def __repr__(self) -> str:
        state = "revoked" if self.revoked else "active"
        return f"<ApiKey {self.name!r} {API_KEY_PREFIX}…{self._record.last4} {state}>"


class Account:
    """A Helios company account: its keys and its one webhook secret.

    Created by :meth:`HeliosEmulator.create_account`. ``base_url`` is the account's own base
    URL on the emulator: a request sent there with a valid key of another account is refused
    with ``401 API key belongs to a different account`` (see docs/emulator.md, "Accounts").
    """

    def __init__(self, registry: Registry, account_id: str, name: str) -> None:
        self._registry = registry
        self.id = account_id
        self.name = name
        self.created_at = utcnow()
        self._webhook_secret = new_webhook_secret()
        self._keys: dict[str, _KeyRecord] = {}
        self.states = ProviderStates()
        self._held: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._fault_generation = 0

    @property
    def webhook_secret(self) -> str:
        """The current webhook secret; deliveries are signed with it at sending time."""
        with self._registry.lock:
            return self._webhook_secret

    @property
    def base_url(self) -> str:
        """The account-scoped base URL (``<emulator url>/accounts/<id>``)."""
        return f"{self._registry.base_url()}/accounts/{self.id}"

    def create_key(self, name: str) -> ApiKey:
        """Create a named key; its plaintext is on the returned object only."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a key needs a non-empty name")
        value = API_KEY_PREFIX + secrets.token_hex(24)
        record = _KeyRecord(
            id="key_" + secrets.token_hex(8),
            name=name,
            account_id=self.id,
            digest=_digest(value),
            last4=value[-4:],
            created_at=utcnow(),
        )
        with self._registry.lock:
            self._keys[record.id] = record
            self._registry.index_key(record)
        return ApiKey(record, value)

    def list_keys(self) -> list[ApiKey]:
        """Every key of the account, oldest first, without plaintext (``value`` is masked)."""
        with self._registry.lock:
            records = list(self._keys.values())
        return [ApiKey(r, f"{API_KEY_PREFIX}…{r.last4}") for r in records]

    def revoke_key(self, key: ApiKey | str) -> None:
        """Disable one key (an :class:`ApiKey` or its id) immediately."""
        key_id = key.id if isinstance(key, ApiKey) else key
        with self._registry.lock:
            record = self._keys.get(key_id)
            if record is None:
                raise KeyError(f"account {self.id} has no key with id {key_id!r}")
            if record.revoked_at is None:
                record.revoked_at = utcnow()

    def revoke_all_keys(self) -> int:
        """Disable every key of the account at once; returns how many were active."""
        now = utcnow()
        count = 0
        with self._registry.lock:
            for record in self._keys.values():
                if record.revoked_at is None:
                    record.revoked_at = now
                    count += 1
        return count

    def regenerate_webhook_secret(self) -> str:
        """Replace the webhook secret; the old one stops signing at once. Returns the new one."""
        secret = new_webhook_secret()
        with self._registry.lock:
            self._webhook_secret = secret
        return secret

    # provider states ---------------------------------------------------------------------

    def exhaust_concurrency(self, agent: str = "light", *, active: int | None = None) -> None:
        """Make ``agent`` look busy: ``active`` phantom runs (default: the whole limit).

        ``release_concurrency`` (or ``active=0``) ends the state.
        """
        agent = _agent(agent)
        if active is not None:
            _whole_number("active", active, 0, MAX_PHANTOM_RUNS)
        with self._registry.lock:
            self.states.occupied[agent] = 10**9 if active is None else active

    def release_concurrency(self, agent: str | None = None) -> None:
        """End :meth:`exhaust_concurrency` for ``agent`` (default: every agent)."""
        if agent is not None:
            agent = _agent(agent)
        with self._registry.lock:
            if agent is None:
                self.states.occupied.clear()
            else:
                self.states.occupied.pop(agent, None)

    def fail_next_run(
        self,
        message: str = "Processing failed",
        *,
        code: str | None = "processing_failed",
        at_step: int | None = None,
    ) -> None:
        """Make the account's next run end with an error webhook instead of its result.

        ``at_step`` (1 to 9): the run sends status updates for the steps before it and the
        error webhook takes that step's sequence number; default: after every status update,
        in place of the final payload. Calls queue up, one failure per run (at most
        :data:`MAX_QUEUED_FAILURES`).
        """
        if not isinstance(message, str) or not message:
            raise ProviderStateError("message", "a non-empty string", message)
        if len(message) > MAX_TEXT:
            raise ProviderStateError("message", f"at most {MAX_TEXT} characters", message)
        if code is not None and (not isinstance(code, str) or not code or len(code) > MAX_TEXT):
            raise ProviderStateError(
                "code", f"None or a string of 1 to {MAX_TEXT} characters", code
            )
        if at_step is not None:
            _whole_number("at_step", at_step, 1, MAX_STEP)
        with self._registry.lock:
            if len(self.states.failures) >= MAX_QUEUED_FAILURES:
                raise ProviderStateError(
                    "fail_next_run",
                    f"called at most {MAX_QUEUED_FAILURES} times ahead of the runs",
                    len(self.states.failures) + 1,
                )
            self.states.failures.append(Failure(message, code, at_step))

    def take_next_failure(self) -> Failure | None:
        """Consume the oldest queued :meth:`fail_next_run`, if any: the emulator calls this
        once per accepted run."""
        if not self.states.failures:  # the common case, without taking the lock
            return None
        with self._registry.lock:
            return self.states.failures.pop(0) if self.states.failures else None

    def slow_deliveries(self, delay: float) -> None:
        """Wait ``delay`` seconds (0 to :data:`MAX_DELIVERY_DELAY`) before every delivery
        attempt; 0 ends the state, and attempts already waiting then go at once (a shorter
        delay shortens their wait)."""
        if (
            isinstance(delay, bool)
            or not isinstance(delay, (int, float))
            or not 0 <= delay <= MAX_DELIVERY_DELAY
        ):
            raise ProviderStateError(
                "delay", f"a number of seconds from 0 to {MAX_DELIVERY_DELAY:g}", delay
            )
        with self._registry.lock:
            self.states.delivery_delay = float(delay)
        self._registry.state_changed(self)

    def drop_deliveries(self, count: int = 1) -> None:
        """Lose the next ``count`` delivery attempts (0 to :data:`MAX_DROPPED`): nothing is
        sent, each counts as failed (and is retried like a timeout); 0 ends the state."""
        _whole_number("count", count, 0, MAX_DROPPED)
        with self._registry.lock:
            self.states.dropped_deliveries = count

    def take_dropped_delivery(self) -> bool:
        """Consume one of the :meth:`drop_deliveries`; whether this delivery attempt is lost.
        The emulator calls this once per attempt."""
        with self._registry.lock:
            if self.states.dropped_deliveries > 0:
                self.states.dropped_deliveries -= 1
                return True
            return False

    def regenerate_secret_during_next_run(self, after_step: int = 1) -> None:
        """Regenerate the webhook secret in the next run, right after its status update for
        ``after_step`` (1 to 8): later webhooks of that run are signed with the new secret."""
        _whole_number("after_step", after_step, 1, MAX_STEP - 1)
        with self._registry.lock:
            self.states.regenerate_secret_after_step = after_step

    def take_secret_regeneration(self) -> int | None:
        """Consume :meth:`regenerate_secret_during_next_run`: the step after which the run
        starting now regenerates the secret, or ``None``. The emulator calls this once per
        accepted run."""
        if self.states.regenerate_secret_after_step is None:
            return None
        with self._registry.lock:
            step = self.states.regenerate_secret_after_step
            self.states.regenerate_secret_after_step = None
            return step

    # per-test results ------------------------------------------------------------------

    def next_result(self, change: ResultChange) -> None:
        """Set the analysis the account's next run returns: ``change`` is a function
        ``(agent, request, result)`` that changes the synthetic ``result`` in place, or a dict
        merged into it (its keys replace the result's). Calls queue up, one per run. It
        applies after the session's ``pytest_helios_emulator_result`` hook; a payload the
        webhook schema refuses ends the run with an error webhook saying why.
        """
        if not callable(change) and not isinstance(change, dict):
            raise ProviderStateError(
                "change", "a function (agent, request, result) or a dict", change
            )
        if isinstance(change, dict):
            import copy
            import json

            try:
                json.dumps(change, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ProviderStateError("change", f"a JSON object ({exc})", change) from None
            change = copy.deepcopy(change)
        with self._registry.lock:
            if len(self.states.results) >= MAX_QUEUED_FAILURES:
                raise ProviderStateError(
                    "next_result",
                    f"called at most {MAX_QUEUED_FAILURES} times ahead of the runs",
                    len(self.states.results) + 1,
                )
            self.states.results.append(change)

    def take_next_result(self) -> ResultChange | None:
        """Consume the oldest queued :meth:`next_result`; the emulator calls this once per run,
        when it starts."""
        if not self.states.results:
            return None
        with self._registry.lock:
            return self.states.results.pop(0) if self.states.results else None

    # fault injection ---------------------------------------------------------------------

    def fault_requests(
        self,
        fault: str,
        *,
        count: int | None = 1,
        status: int = 503,
        delay: float | None = None,
    ) -> None:
        """Make the next ``count`` accepted requests of the account (``None``: every one, until
        :meth:`end_faults`) fail as ``fault`` says, instead of being accepted:

        ``status`` answers ``status`` (500 to 599) with a JSON error body; ``timeout`` holds the
        answer ``delay`` seconds (default 60), or until the client gives up or the state ends,
        then answers 504; ``reset`` resets the connection; ``malformed`` answers 200 with a body
        that is not JSON; ``truncated`` answers 200 and closes the connection half way through
        the body; ``no-run-id`` answers 200 with a JSON body without ``runId``;
        ``slow-accept`` waits ``delay`` seconds, then accepts the run as usual. Only
        ``slow-accept`` starts a run. Calls queue up, in order.
        """
        if fault not in REQUEST_FAULTS:
            raise ProviderStateError("fault", "one of " + ", ".join(REQUEST_FAULTS), fault)
        if count is not None:
            _whole_number("count", count, 1, MAX_FAULT_COUNT)
        _whole_number("status", status, 500, 599)
        if fault == "slow-accept" and delay is None:
            raise ProviderStateError("delay", "given for slow-accept", delay)
        hold = (
            DEFAULT_HOLD
            if delay is None
            else _seconds("delay", delay, 0, MAX_FAULT_DELAY, above=True)
        )
        with self._registry.lock:
            if len(self.states.request_faults) >= MAX_QUEUED_FAULTS:
                raise ProviderStateError(
                    "fault_requests",
                    f"called at most {MAX_QUEUED_FAULTS} times ahead of the requests",
                    len(self.states.request_faults) + 1,
                )
            self.states.request_faults.append(RequestFault(fault, status, hold, count))

    def take_request_fault(self) -> RequestFault | None:
        """Consume one request of the oldest :meth:`fault_requests`: the fault this request
        meets, or ``None``. The emulator calls this once per request it would accept."""
        if not self.states.request_faults:
            return None
        with self._registry.lock:
            faults = self.states.request_faults
            if not faults:
                return None
            fault = faults[0]
            if fault.count is not None:
                if fault.count <= 1:
                    faults.pop(0)
                else:
                    faults[0] = replace(fault, count=fault.count - 1)
            return replace(fault, generation=self._fault_generation)

    def reorder_next_run(self) -> None:
        """Deliver the next run's webhooks out of order: they are held until the run ends, then
        sent last first (the final payload, then the status updates from the last step down)."""
        with self._registry.lock:
            self.states.reorder_runs += 1 if self.states.reorder_runs < MAX_QUEUED_FAULTS else 0

    def take_reordering(self) -> bool:
        """Consume :meth:`reorder_next_run`: whether the run starting now is delivered out of
        order."""
        if not self.states.reorder_runs:
            return False
        with self._registry.lock:
            if self.states.reorder_runs > 0:
                self.states.reorder_runs -= 1
                return True
            return False

    def duplicate_deliveries(self, count: int = 1) -> None:
        """Deliver each of the next ``count`` webhooks (0 to :data:`MAX_FAULT_COUNT`) twice:
        the same body, signed again; 0 ends the state."""
        _whole_number("count", count, 0, MAX_FAULT_COUNT)
        with self._registry.lock:
            self.states.duplicated_deliveries = count

    def take_duplicate_delivery(self) -> bool:
        """Consume one of the :meth:`duplicate_deliveries`: whether this webhook goes twice."""
        if not self.states.duplicated_deliveries:
            return False
        with self._registry.lock:
            if self.states.duplicated_deliveries > 0:
                self.states.duplicated_deliveries -= 1
                return True
            return False

    def bad_signatures(self, count: int = 1) -> None:
        """Sign the next ``count`` delivery attempts (0 to :data:`MAX_FAULT_COUNT`) with a
        secret that is not the account's: a verifying receiver refuses them and the emulator
        retries, signing the retry correctly; 0 ends the state."""
        _whole_number("count", count, 0, MAX_FAULT_COUNT)
        with self._registry.lock:
            self.states.bad_signatures = count

    def signing_secret(self) -> str:
        """The secret this delivery attempt is signed with: the current webhook secret, or a
        wrong one while :meth:`bad_signatures` lasts. The emulator calls this once per
        attempt."""
        with self._registry.lock:
            if self.states.bad_signatures > 0:
                self.states.bad_signatures -= 1
                return new_webhook_secret()
            return self._webhook_secret

    def end_faults(self) -> None:
        """End every fault injection of the account (request faults, reordering, duplicates,
        bad signatures); requests held by ``timeout`` or ``slow-accept`` are answered at once."""
        with self._registry.lock:
            self.states.request_faults.clear()
            self.states.reorder_runs = 0
            self.states.duplicated_deliveries = 0
            self.states.bad_signatures = 0
            self._fault_generation += 1
            waiters = list(self._held)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def hold(self, event: asyncio.Event, fault: RequestFault) -> None:
        """(On the emulator's loop.) Have :meth:`end_faults` set ``event``, which a request
        held by ``fault`` waits on; set at once when the state has ended since ``fault`` was
        taken."""
        with self._registry.lock:
            if fault.generation != self._fault_generation:
                event.set()
                return
            self._held.add((asyncio.get_running_loop(), event))

    def release(self, event: asyncio.Event) -> None:
        """(On the emulator's loop.) Forget a :meth:`hold`."""
        with self._registry.lock:
            self._held.discard((asyncio.get_running_loop(), event))

    def __repr__(self) -> str:
        return f"<Account {self.name!r} {self.id}>"


@dataclass(frozen=True)
class Failure:
    """A forced run failure: the error webhook's message and code, and the step it fails at."""

    message: str
    code: str | None
    at_step: int | None


@dataclass(frozen=True)
class RequestFault:
    """A forced failure of requests (:meth:`Account.fault_requests`): what, and how many more
    requests it takes (``None``: until ended)."""

    fault: str
    status: int
    delay: float
    count: int | None
    generation: int = 0


#: What :meth:`Account.next_result` takes: a function changing the result, or a dict merged in.
ResultChange = Callable[[str, dict[str, Any], dict[str, Any]], object] | dict[str, Any]


@dataclass
class ProviderStates:
    """Outcomes forced for the next runs of an account (see docs/emulator.md, "Provider states")."""

    failures: list[Failure] = field(default_factory=list)
    occupied: dict[str, int] = field(default_factory=dict)
    delivery_delay: float = 0.0
    dropped_deliveries: int = 0
    regenerate_secret_after_step: int | None = None
    results: list[ResultChange] = field(default_factory=list)
    request_faults: list[RequestFault] = field(default_factory=list)
    reorder_runs: int = 0
    duplicated_deliveries: int = 0
    bad_signatures: int = 0


@dataclass(frozen=True)
class AuthResult:
    """Either an account (authenticated) or the 401 reason."""

    account: Account | None
    reason: str | None = None


class Registry:
    """Every account and key of one emulator."""

    def __init__(self, base_url: Callable[[], str]) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url
        self.accounts: dict[str, Account] = {}
        self._by_digest: dict[bytes, _KeyRecord] = {}
        #: Called (from any thread) after an account's provider state changed what waiting
        #: deliveries wait for; the emulator wakes them.
        self.on_state_change: Callable[[Account], None] | None = None

    def state_changed(self, account: Account) -> None:
        if self.on_state_change is not None:
            self.on_state_change(account)

    def index_key(self, record: _KeyRecord) -> None:
        """Make a new key findable by its digest; the caller holds :attr:`lock`."""
        self._by_digest[record.digest] = record

    def create_account(self, name: str) -> Account:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("an account needs a non-empty name")
        account = Account(self, "acct_" + secrets.token_hex(8), name)
        with self.lock:
            self.accounts[account.id] = account
        return account

    def __iter__(self) -> Iterator[Account]:
        with self.lock:
            return iter(list(self.accounts.values()))

    def authenticate(self, presented: str | None, scope: Account | None = None) -> AuthResult:
        """Decide a request's ``x-api-key``; ``scope`` is the account the URL names, if any."""
        # HTTP drops only spaces and tabs around a field value (RFC 9110, 5.5); str.strip()
        # would also call a lone NEL or NBSP (b'\x85', b'\xa0' read as latin-1) missing.
        if presented is None or not presented.strip(" \t"):
            return AuthResult(None, MISSING_KEY)
        digest = _digest(presented)
        with self.lock:
            record = self._by_digest.get(digest)
            if record is None or not hmac.compare_digest(record.digest, digest):
                return AuthResult(None, INVALID_KEY)
            if record.revoked_at is not None:
                return AuthResult(None, REVOKED_KEY)
            if scope is not None and record.account_id != scope.id:
                return AuthResult(None, FOREIGN_KEY)
            record.last_used_at = utcnow()
            return AuthResult(self.accounts[record.account_id])
