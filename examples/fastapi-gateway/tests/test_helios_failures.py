"""How the gateway answers its callers when Helios fails: the emulator's fault injection, met
through the gateway's own ``AsyncHeliosClient``."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi import FastAPI

# async tests (anyio's pytest plugin); a run they start delivers into the test's gateway
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("routed")]

LABS = [{"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High"}]
SUBMISSION = {"patientRef": "patient-7", "labResults": LABS}


async def test_an_outage_of_helios_is_answered_502_and_the_next_request_goes_through(
    client, helios_account
) -> None:
    helios_account.fault_requests("status", status=503)

    answer = await client.post("/labs", json=SUBMISSION)

    assert answer.status_code == 502
    assert answer.json()["error"] == "Helios unavailable"
    assert "answered 503" in answer.json()["detail"]
    assert (await client.post("/labs", json=SUBMISSION)).status_code == 202  # the fault took one


async def test_a_helios_that_never_answers_is_answered_502_after_the_gateways_timeout(
    client, gateway: FastAPI, helios_account
) -> None:
    gateway.state.settings = dataclasses.replace(gateway.state.settings, helios_timeout=0.5)
    helios_account.fault_requests("timeout", delay=60)

    answer = await client.post("/labs", json=SUBMISSION)

    assert answer.status_code == 502
    assert "ReadTimeout" in answer.json()["detail"]


@pytest.mark.parametrize("fault", ["malformed", "no-run-id"])
async def test_an_acceptance_without_a_run_id_is_answered_502(
    client, helios_account, fault
) -> None:
    helios_account.fault_requests(fault)

    answer = await client.post("/labs", json=SUBMISSION)

    assert answer.status_code == 502
    assert "without a runId" in answer.json()["detail"]


async def test_a_full_concurrency_limit_is_answered_503_with_retry_after(
    client, helios_account
) -> None:
    helios_account.exhaust_concurrency("lab-results")

    answer = await client.post("/labs", json=SUBMISSION)

    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "60")


async def test_a_revoked_key_is_answered_502_without_showing_it(
    client, gateway: FastAPI, revoked_key
) -> None:
    gateway.state.settings = dataclasses.replace(gateway.state.settings, helios_api_key=revoked_key)

    answer = await client.post("/labs", json=SUBMISSION)

    assert answer.status_code == 502
    assert answer.json() == {"error": "the gateway's Helios key was refused"}
