"""429 retries on a virtual clock: no real time waited, and exact about what was waited.

Real parts throughout: the embedded emulator on a loopback socket answers the 429s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_helios import AsyncHeliosClient, HeliosClient, VirtualClock
from pytest_helios.emulator import Account, HeliosEmulator
from pytest_helios.exceptions import HeliosRateLimited
from tests.samples import LAB

NOWHERE = "http://127.0.0.1:9/hook"


@pytest.fixture(scope="module")
def emulator() -> Iterator[HeliosEmulator]:
    with HeliosEmulator() as emu:
        yield emu


@pytest.fixture
def account(emulator: HeliosEmulator) -> Account:
    return emulator.create_account("acme")


def test_a_429_retry_completes_with_the_clock_advanced_by_exactly_retry_after(
    account: Account,
) -> None:
    clock = VirtualClock()
    account.exhaust_concurrency("lab-results")
    clock.call_at(60, lambda: account.release_concurrency("lab-results"))
    key = account.create_key("ci").value
    with HeliosClient(key, base_url=account.base_url, rate_limit_retries=3, clock=clock) as c:
        run = c.submit_lab_results(lab_results=[LAB], webhook_url=NOWHERE)
    assert run.status == "accepted"
    assert clock.slept == [60.0]
    assert clock.now == 60.0


def test_the_example_that_took_180_seconds_takes_none(account: Account) -> None:
    """rate_limit_retries=3 meeting Retry-After: 60 four times: three waits, then the 429."""
    clock = VirtualClock()
    account.exhaust_concurrency("lab-results")
    key = account.create_key("ci").value
    with (
        HeliosClient(key, base_url=account.base_url, rate_limit_retries=3, clock=clock) as c,
        pytest.raises(HeliosRateLimited) as raised,
    ):
        c.submit_lab_results(lab_results=[LAB], webhook_url=NOWHERE)
    assert raised.value.retry_after == 60
    assert clock.slept == [60.0, 60.0, 60.0]
    assert clock.total == 180.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_async_client_retries_a_429_under_any_anyio_backend(
    account: Account, backend: str
) -> None:
    import anyio

    pytest.importorskip(backend)
    clock = VirtualClock()
    account.exhaust_concurrency("lab-results")
    clock.call_at(60, lambda: account.release_concurrency("lab-results"))
    client = AsyncHeliosClient(
        account.create_key("ci").value, base_url=account.base_url, rate_limit_retries=1, clock=clock
    )

    async def main() -> str:
        run = await client.submit_lab_results(lab_results=[LAB], webhook_url=NOWHERE)
        return run.status

    assert anyio.run(main, backend=backend) == "accepted"
    assert clock.slept == [60.0]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_async_client_sleeps_for_real_with_anyio_when_given_no_clock(
    account: Account, backend: str
) -> None:
    """Without a clock the default sleep is anyio's: it works under trio, where asyncio.sleep
    fails. (max_retry_wait keeps the real wait short.)"""
    import anyio

    pytest.importorskip(backend)
    account.exhaust_concurrency("lab-results")
    client = AsyncHeliosClient(
        account.create_key("ci").value,
        base_url=account.base_url,
        rate_limit_retries=1,
        max_retry_wait=0.01,
    )

    async def main() -> None:
        await client.submit_lab_results(lab_results=[LAB], webhook_url=NOWHERE)

    with pytest.raises(HeliosRateLimited):
        anyio.run(main, backend=backend)


def test_callbacks_run_in_due_order_once_the_clock_gets_there() -> None:
    clock = VirtualClock(start=10)
    seen: list[str] = []
    clock.call_at(15, lambda: seen.append("15"))
    clock.call_later(2, lambda: seen.append("12"))
    clock.call_at(5, lambda: seen.append("past"))  # already due: at once
    assert seen == ["past"]
    clock.sleep(3)
    assert seen == ["past", "12"]
    clock.sleep(2)
    assert seen == ["past", "12", "15"]
    assert clock.time() == 15
    assert clock.slept == [3, 2]


def test_a_negative_sleep_is_refused() -> None:
    with pytest.raises(ValueError, match="negative time: -1"):
        VirtualClock().sleep(-1)
