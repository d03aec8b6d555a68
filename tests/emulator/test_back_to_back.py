"""A run whose webhooks are delivered frees its slot at once; the limit itself stays exact."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from pytest_helios.emulator import Account, HeliosEmulator
from tests.samples import lab_request

from .conftest import post
from .receiver import Receiver


def test_a_hundred_back_to_back_submissions_never_meet_a_429(
    client: httpx.Client, receiver: Receiver
) -> None:
    statuses = [
        client.post("/api/v1/lab-results", json=lab_request(receiver.url)).status_code
        for _ in range(100)
    ]
    assert statuses == [200] * 100


def test_the_eighth_concurrent_run_still_gets_the_documented_429(
    emulator: HeliosEmulator, account: Account, receiver: Receiver
) -> None:
    """Runs that cannot deliver yet (a slow receiver) hold their slots: the 8th is refused."""
    key = account.create_key("ci").value
    account.slow_deliveries(60)
    try:

        def submit(_: int) -> httpx.Response:
            return post(
                emulator.url + "/api/v1/lab-results",
                headers={"x-api-key": key},
                json=lab_request(receiver.url),
            )

        with ThreadPoolExecutor(7) as pool:
            first_seven = [r.status_code for r in pool.map(submit, range(7))]
        eighth = submit(8)
    finally:
        account.slow_deliveries(0)
    assert first_seven == [200] * 7
    assert eighth.status_code == 429
    assert eighth.headers["Retry-After"] == "60"
    assert eighth.json()["message"] == (
        "You have 7 active lab-results agent requests. Maximum is 7."
    )
