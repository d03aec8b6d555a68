"""Whole runs through the gateway and the embedded emulator, with no port: the gateway's
``AsyncHeliosClient`` calls the emulator at ``helios_base_url``, and the emulator delivers the
run's webhooks straight into the gateway (``route_webhooks``), to
``http://gateway.test/helios/webhook``, where TrustedHostMiddleware sees ``Host: gateway.test``.
"""

from __future__ import annotations

import pytest

# async tests (anyio's pytest plugin); this test's runs deliver into this test's gateway
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("routed")]

LABS = [
    {"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"},
    {"name": "Hemoglobin", "value": "10.9 g/dL", "flag": "Low"},
]


async def submit(client, labs=LABS) -> str:
    answer = await client.post("/labs", json={"patientRef": "patient-7", "labResults": labs})
    assert answer.status_code == 202, answer.text
    return answer.json()["runId"]


async def test_a_run_is_stored_completed_with_every_step_once(client, helios_emulator) -> None:
    run_id = await submit(client)

    attempts = helios_emulator.wait_for_deliveries(run_id=run_id)

    assert [a.status_code for a in attempts] == [200] * 8
    shown = (await client.get(f"/runs/{run_id}")).json()
    assert (shown["status"], shown["steps"]) == ("completed", [1, 2, 3, 4, 5, 6, 7, 8])
    assert [lab["name"] for lab in shown["result"]["labResults"]] == ["Ferritin", "Hemoglobin"]


async def test_the_analysis_stored_is_the_one_this_test_set(
    client, helios_emulator, helios_account
) -> None:
    helios_account.next_result({"clinicianResponse": "Iron deficiency: start supplements."})
    run_id = await submit(client)

    helios_emulator.wait_for_deliveries(run_id=run_id)

    result = (await client.get(f"/runs/{run_id}")).json()["result"]
    assert result["clinicianResponse"] == "Iron deficiency: start supplements."


async def test_a_failed_run_is_stored_with_its_error(
    client, helios_emulator, helios_account
) -> None:
    helios_account.fail_next_run("Lab units could not be read", code="bad_units", at_step=3)
    run_id = await submit(client)

    helios_emulator.wait_for_deliveries(run_id=run_id)

    shown = (await client.get(f"/runs/{run_id}")).json()
    assert (shown["status"], shown["steps"]) == ("error", [1, 2, 3])
    assert shown["error"] == {"message": "Lab units could not be read", "code": "bad_units"}


async def test_deliveries_out_of_order_and_twice_are_stored_once(
    client, helios_emulator, helios_account
) -> None:
    helios_account.reorder_next_run()
    helios_account.duplicate_deliveries(8)
    run_id = await submit(client)

    attempts = helios_emulator.wait_for_deliveries(run_id=run_id)

    assert [a.sequence_number for a in attempts] == [8, 8, 7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    shown = (await client.get(f"/runs/{run_id}")).json()
    # the final payload came first: the status updates after it did not undo it
    assert (shown["status"], shown["steps"]) == ("completed", [1, 2, 3, 4, 5, 6, 7, 8])


async def test_a_badly_signed_delivery_is_refused_and_its_retry_stored(
    client, helios_emulator, helios_account
) -> None:
    helios_account.bad_signatures(1)
    run_id = await submit(client)

    attempts = helios_emulator.wait_for_deliveries(run_id=run_id)

    refused = [a for a in attempts if not a.ok]
    assert [(a.sequence_number, a.status_code) for a in refused] == [(1, 400)]
    assert (await client.get(f"/runs/{run_id}")).json()["steps"] == [1, 2, 3, 4, 5, 6, 7, 8]


async def test_labs_helios_refuses_are_answered_422_with_its_reasons(client) -> None:
    answer = await client.post("/labs", json={"patientRef": "patient-7", "labResults": []})

    assert answer.status_code == 422
    assert answer.json()["error"] == "Helios refused the labs"
    assert [d["field"] for d in answer.json()["details"]] == ["labResults"]
