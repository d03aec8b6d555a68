"""7 active runs per agent type per account; beyond that 429 with the documented body."""

from __future__ import annotations

import re

import httpx
import pytest

from pytest_helios.emulator import Account, HeliosEmulator
from tests.samples import agent_request, lab_request

from .conftest import post


def test_an_exhausted_agent_type_gets_the_documented_429(
    client: httpx.Client, account: Account
) -> None:
    account.exhaust_concurrency("light")
    response = client.post("/api/v1/agent", json=agent_request("light"))
    assert response.status_code == 429
    assert response.json() == {
        "error": "Too many concurrent requests",
        "message": "You have 7 active light agent requests. Maximum is 7.",
        "activeCount": 7,
        "limit": 7,
    }
    assert response.headers["X-Concurrent-Limit"] == "7"
    assert response.headers["X-Concurrent-Active"] == "7"
    assert response.headers["X-Concurrent-Remaining"] == "0"
    assert response.headers["Retry-After"] == "60"
    assert response.headers["Content-Type"] == "application/json"


def test_each_agent_type_is_counted_separately(client: httpx.Client, account: Account) -> None:
    account.exhaust_concurrency("light")
    assert client.post("/api/v1/agent", json=agent_request("deep")).status_code == 200
    assert client.post("/api/v1/lab-results", json=lab_request()).status_code == 200


def test_another_account_is_not_limited_by_this_one(
    emulator: HeliosEmulator, account: Account
) -> None:
    account.exhaust_concurrency("lab-results")
    other = emulator.create_account("other").create_key("ci")
    response = post(
        emulator.url + "/api/v1/lab-results", headers={"x-api-key": other.value}, json=lab_request()
    )
    assert response.status_code == 200


def test_releasing_the_state_frees_the_slots(client: httpx.Client, account: Account) -> None:
    account.exhaust_concurrency("deep")
    assert client.post("/api/v1/agent", json=agent_request("deep")).status_code == 429
    account.release_concurrency("deep")
    assert client.post("/api/v1/agent", json=agent_request("deep")).status_code == 200


def test_the_headers_count_active_runs_including_this_one(
    client: httpx.Client, account: Account
) -> None:
    account.exhaust_concurrency("light", active=5)
    sixth = client.post("/api/v1/agent", json=agent_request("light"))
    assert sixth.status_code == 200
    assert sixth.headers["X-Concurrent-Active"] in ("6", "7")  # 7 if an earlier run is still active
    assert int(sixth.headers["X-Concurrent-Remaining"]) == 7 - int(
        sixth.headers["X-Concurrent-Active"]
    )


def test_the_limit_is_configurable() -> None:
    with HeliosEmulator(concurrency_limit=2) as emu:
        account = emu.create_account("acme")
        key = account.create_key("ci")
        account.exhaust_concurrency("light")
        response = post(
            emu.url + "/api/v1/agent", headers={"x-api-key": key.value}, json=agent_request()
        )
    assert response.json()["message"] == "You have 2 active light agent requests. Maximum is 2."
    assert response.headers["X-Concurrent-Limit"] == "2"


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused_at_construction(limit: int) -> None:
    with pytest.raises(ValueError, match=f"concurrency_limit must be at least 1, got {limit}"):
        HeliosEmulator(concurrency_limit=limit)


def test_an_unknown_agent_in_a_provider_state_is_refused(account: Account) -> None:
    message = "'ehr' is not a valid agent. Valid values: light, deep, lab-results"
    with pytest.raises(ValueError, match=re.escape(message)):
        account.exhaust_concurrency("ehr")
