"""forget_account: a test's account, keys, runs and deliveries leave the session's emulator."""

from __future__ import annotations

import httpx

from pytest_helios.emulator import HeliosEmulator
from tests.samples import lab_request

from .conftest import post
from .receiver import Receiver


def test_a_forgotten_account_leaves_no_account_key_run_or_delivery_behind(
    emulator: HeliosEmulator, receiver: Receiver
) -> None:
    account = emulator.create_account("short-lived")
    key = account.create_key("ci").value
    url = emulator.url + "/api/v1/lab-results"
    run_ids = [
        post(url, headers={"x-api-key": key}, json=lab_request(receiver.url)).json()["runId"]
        for _ in range(3)
    ]
    emulator.forget_account(account)  # runs may still be delivering: they go once settled
    emulator.wait_for_deliveries()
    assert account.id not in {a.id for a in emulator.accounts}
    assert not {r.id for r in emulator.runs} & set(run_ids)
    assert all(emulator.deliveries_for(run_id) == [] for run_id in run_ids)
    refused = post(url, headers={"x-api-key": key}, json=lab_request(receiver.url))
    assert refused.status_code == 401
    assert refused.json()["message"] == "Invalid API key"


def test_forgetting_one_account_keeps_the_others(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    kept = client.post("/api/v1/lab-results", json=lab_request(receiver.url)).json()["runId"]
    emulator.forget_account(emulator.create_account("another").id)
    emulator.wait_for_deliveries(run_id=kept)
    assert emulator.run(kept).status == "completed"
    assert len(emulator.deliveries_for(kept)) == 8
