"""A soak of the emulator: mixed traffic from several client threads for HELIOS_SOAK_SECONDS,
webhooks to receivers that fail, hang and recover. No 5xx, every answer the documented one,
no webhook lost or duplicated beyond the documented retries, memory flat.

The soak runs in phases. After each phase it waits until every delivery has settled, checks
the delivery log against what the receivers got, then forgets the phase (the emulator keeps
every run and delivery attempt by design, for tests to inspect; clearing them between phases
shows whether anything else is retained), and samples the traced memory.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import random
import secrets
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pytest_helios.emulator import HeliosEmulator
from pytest_helios.payloads.builders import FINAL_SEQUENCE_NUMBER
from tests.loopback import LoopbackServer, QuietHandler
from tests.samples import agent_request, lab_request

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

ATTEMPTS = 4
TIMEOUT = 0.5  # seconds per delivery attempt: a receiver that hangs longer is timed out
PHASES = 4
CLIENTS = 6
MEMORY_TOLERANCE = 3 * 1024 * 1024  # bytes of traced memory, last phase against the first


def _plan(behaviour: str, run_id: str, sequence: int) -> int:
    """How many first attempts of this webhook the receiver fails (deterministic)."""
    digest = hashlib.sha256(f"{run_id}/{sequence}".encode()).digest()[0]
    if behaviour == "flaky":
        return digest % 5  # 0..4: 4 means it never recovers within the 4 documented attempts
    if behaviour == "hanging":
        return 1 if digest % 3 == 0 else 0
    return 0


@dataclass
class ReceiverLog:
    behaviour: str
    arrivals: Counter[tuple[str, int]] = field(default_factory=Counter)
    answered_ok: Counter[tuple[str, int]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def receiver(behaviour: str) -> Iterator[tuple[str, ReceiverLog]]:
    """A real webhook endpoint: ``steady`` answers 200; ``flaky`` answers 500 to the first
    n attempts of a webhook, then 200; ``hanging`` holds a first attempt past the emulator's
    timeout (then answers 200 to nobody), and answers the retry at once."""
    log = ReceiverLog(behaviour)

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            payload = json.loads(self.body())
            key = (payload["runId"], payload["sequenceNumber"])
            with log.lock:
                log.arrivals[key] += 1
                seen = log.arrivals[key]
            failures = _plan(behaviour, *key)
            status = 200
            if seen <= failures:
                if behaviour == "hanging":
                    time.sleep(TIMEOUT + 0.3)
                else:
                    status = 500
            if status == 200:
                with log.lock:
                    log.answered_ok[key] += 1
            with contextlib.suppress(OSError):  # the emulator gave up waiting (the hanging case)
                self.reply(status)

    with LoopbackServer(Handler) as server:
        yield f"{server.url}/webhook", log


INVALID_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b'{"agentType": "light"}'),
    ("application/json", b'{"webhookUrl": "ftp://x", "agentType": "light", "data": {}}'),
    ("application/json", b"{not json"),
    ("application/json", b'{"a":' * 100 + b"1" + b"}" * 100),
    ("text/plain", b"{}"),
    ("application/json", b"\xff\xfe"),
]


@dataclass
class Traffic:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    accepted: list[tuple[str, str, str]] = field(default_factory=list)  # run id, agent, receiver
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


EXPECTED = {"valid": {200, 429}, "unauthorized": {401}, "invalid": {400}, "rate-limited": {429}}


def client_thread(
    seed: int, base_url: str, keys: dict[str, str], hooks: dict[str, str], deadline: float,
    traffic: Traffic,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while time.monotonic() < deadline:
            kind = rng.choices(list(EXPECTED), weights=(6, 2, 2, 1))[0]
            behaviour = rng.choice(list(hooks))
            agent = rng.choice(["light", "lab-results"])
            path = "/api/v1/agent" if agent == "light" else "/api/v1/lab-results"
            request = agent_request if agent == "light" else lab_request
            body = json.dumps(request(webhook_url=hooks[behaviour]))
            headers = {"x-api-key": keys["valid"], "content-type": "application/json"}
            if kind == "unauthorized":
                choice = rng.choice(["revoked", "unknown", "missing"])
                if choice == "missing":
                    del headers["x-api-key"]
                else:
                    headers["x-api-key"] = keys[choice]
            elif kind == "invalid":
                headers["content-type"], raw = rng.choice(INVALID_BODIES)
                body = raw.decode("latin-1")
            elif kind == "rate-limited":
                headers["x-api-key"] = keys["exhausted"]
            response = client.post(path, headers=headers, content=body.encode("latin-1"))
            with traffic.lock:
                traffic.statuses[kind, response.status_code] += 1
                if response.status_code not in EXPECTED[kind]:
                    shown = f"{kind}: {response.status_code} {response.text[:200]}"
                    traffic.unexpected.append(shown)
                elif response.status_code == 200:
                    traffic.accepted.append((response.json()["runId"], agent, behaviour))


def check_deliveries(
    emu: HeliosEmulator, traffic: Traffic, logs: dict[str, ReceiverLog]
) -> Counter[str]:
    """Compare the emulator's delivery log with what each receiver got; return a tally."""
    found: Counter[str] = Counter()
    attempts: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for attempt in emu.deliveries:
        attempts[attempt.run_id, attempt.sequence_number].append(attempt)
    problems: list[str] = []
    expected_keys = set()
    for run_id, agent, behaviour in traffic.accepted:
        log = logs[behaviour]
        for sequence in range(1, FINAL_SEQUENCE_NUMBER[agent] + 1):  # type: ignore[index]
            key = (run_id, sequence)
            expected_keys.add(key)
            tries = sorted(attempts.get(key, []), key=lambda a: a.attempt)
            numbers = [a.attempt for a in tries]
            oks = [a for a in tries if a.ok]
            timeouts = sum(a.error == "timeout" for a in tries)
            if numbers != list(range(1, len(numbers) + 1)) or not 1 <= len(numbers) <= ATTEMPTS:
                problems.append(f"{key}: attempts {numbers}")
            if len(oks) > 1 or (oks and oks[-1] is not tries[-1]):
                problems.append(f"{key}: attempted again after a success")
            if not oks and len(tries) != ATTEMPTS:
                problems.append(f"{key}: lost after {numbers} ({[a.error for a in tries]})")
            if oks and not log.answered_ok[key]:
                problems.append(f"{key}: logged as delivered, but the receiver never answered 2xx")
            # an attempt that timed out may never have reached a receiver on a loaded machine
            if not len(tries) - timeouts <= log.arrivals[key] <= len(tries):
                problems.append(f"{key}: {len(tries)} attempts, receiver got {log.arrivals[key]}")
            if not oks and _plan(behaviour, run_id, sequence) < ATTEMPTS and not timeouts:
                problems.append(f"{key}: given up although the receiver recovered in time")
            should_deliver = bool(oks)
            found["webhooks expected"] += 1
            found["webhooks delivered"] += len(oks)
            found["delivery attempts"] += len(tries)
            found["retries"] += max(len(tries) - 1, 0)
            found["timeouts"] += timeouts
            found["given up after 4 documented attempts"] += not should_deliver
            extra = log.answered_ok[key] - len(oks)
            if extra and not any(a.error == "timeout" for a in tries):
                problems.append(f"{key}: receiver processed it {log.answered_ok[key]} times")
            found["duplicates, each after a timed-out attempt"] += extra
    stray = set(attempts) - expected_keys
    if stray:
        problems.append(f"deliveries of no accepted run: {sorted(stray)[:5]}")
    for log in logs.values():
        if set(log.arrivals) - expected_keys:
            problems.append(f"{log.behaviour} receiver got webhooks of no accepted run")
    assert not problems, "\n".join(problems[:30])
    return found


def test_mixed_traffic_with_failing_and_hanging_receivers_loses_nothing_and_leaks_nothing() -> None:
    seconds = scale().soak_seconds
    tracemalloc.start()
    samples: list[int] = []
    total: Counter[str] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    with (
        HeliosEmulator(
            concurrency_limit=50, delivery_attempts=ATTEMPTS, delivery_backoff=0.05,
            delivery_timeout=TIMEOUT,
        ) as emu,
        receiver("steady") as (steady_url, steady),
        receiver("flaky") as (flaky_url, flaky),
        receiver("hanging") as (hanging_url, hanging),
    ):  # fmt: skip
        account = emu.create_account("soak")
        revoked = account.create_key("revoked")
        account.revoke_key(revoked)
        limited = emu.create_account("limited")
        limited.exhaust_concurrency("light")
        limited.exhaust_concurrency("lab-results")
        keys = {
            "valid": account.create_key("soak").value,
            "revoked": revoked.value,
            "unknown": "sk_live_" + secrets.token_hex(24),
            "exhausted": limited.create_key("limited").value,
        }
        hooks = {"steady": steady_url, "flaky": flaky_url, "hanging": hanging_url}
        logs = {"steady": steady, "flaky": flaky, "hanging": hanging}
        for phase in range(PHASES):
            traffic = Traffic()
            deadline = time.monotonic() + seconds / PHASES
            threads = [
                threading.Thread(
                    target=client_thread,
                    args=(phase * 100 + n, emu.url, keys, hooks, deadline, traffic),
                )
                for n in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not traffic.unexpected, "\n".join(traffic.unexpected[:20])
            emu.wait_for_deliveries(timeout=120)
            total += check_deliveries(emu, traffic, logs)
            statuses += traffic.statuses
            # forget the phase: the log, the finished runs, what the receivers counted
            emu.core.log.clear()
            emu.core.runs.clear()
            for log in logs.values():
                log.arrivals.clear()
                log.answered_ok.clear()
            del traffic, threads
            gc.collect()
            samples.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()

    requests = sum(statuses.values())
    TALLY["soak", "requests sent (6 client threads)"] += requests
    for (kind, status), count in sorted(statuses.items()):
        TALLY["soak", f"answers {status} to {kind} requests"] += count
    TALLY["soak", "5xx answers"] += sum(c for (_, s), c in statuses.items() if s >= 500)
    for what, count in total.items():
        TALLY["soak", what] += count
    TALLY["soak", "webhooks lost"] += 0  # check_deliveries fails the test on any
    growth = samples[-1] - samples[0]
    TALLY["soak", "traced memory growth, last phase vs first (KiB)"] += max(growth // 1024, 0)
    assert statuses[("valid", 200)] > 0 and total["retries"] > 0 and total["timeouts"] > 0
    assert growth < MEMORY_TOLERANCE, f"traced memory per phase (bytes): {samples}"
