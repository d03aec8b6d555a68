"""Every accepted run delivers signed webhooks: one status update per step, then the result."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pytest_helios import validate, verify_webhook
from pytest_helios.emulator import Account, HeliosEmulator
from pytest_helios.payloads import builders as payloads
from tests.samples import agent_request, lab_request

from .receiver import Receiver


def deliveries(emulator: HeliosEmulator, client: httpx.Client, path: str, body: Any) -> list[Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    run_id = response.json()["runId"]
    emulator.wait_for_deliveries()
    return emulator.deliveries_for(run_id)


@pytest.mark.parametrize(("agent", "final"), [("light", 9), ("deep", 8), ("lab-results", 8)])
def test_a_run_sends_a_status_update_per_step_then_its_final_payload(
    emulator: HeliosEmulator,
    client: httpx.Client,
    account: Account,
    receiver: Receiver,
    agent: str,
    final: int,
) -> None:
    if agent == "lab-results":
        path, body = "/api/v1/lab-results", lab_request(receiver.url)
    else:
        path, body = "/api/v1/agent", agent_request(agent, receiver.url)
    log = deliveries(emulator, client, path, body)
    received = [json.loads(r.body) for r in receiver.received]
    assert [p["sequenceNumber"] for p in received] == list(range(1, final + 1))
    assert [p["status"] for p in received] == ["processing"] * (final - 1) + ["completed"]
    assert [p["stepName"] for p in received[:-1]] == list(payloads.STEP_NAMES[agent])
    for payload in received:
        validate("webhook", payload)
        assert payload["agent"] == agent
    schema = "webhook-lab-results-completed" if agent == "lab-results" else "webhook-ehr-completed"
    validate(schema, received[-1])
    assert [(a.sequence_number, a.attempt, a.status_code, a.error) for a in log] == [
        (n, 1, 200, None) for n in range(1, final + 1)
    ]


def test_every_delivery_is_signed_with_the_accounts_secret_and_carries_the_headers(
    emulator: HeliosEmulator, client: httpx.Client, account: Account, receiver: Receiver
) -> None:
    deliveries(emulator, client, "/api/v1/agent", agent_request("light", receiver.url))
    for item in receiver.received:
        payload = verify_webhook(item.body, item.headers, account.webhook_secret)
        assert item.headers["X-Helios-Run-ID"] == payload["runId"]
        assert item.headers["Content-Type"] == "application/json"
        assert item.headers["X-Helios-Timestamp"].isdigit()
        assert item.path == "/webhook"


def test_ehr_results_are_derived_from_the_request(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    body = agent_request("deep", receiver.url)
    body["data"]["pastMedicalHistory"] = [
        {
            "display": "Type 2 Diabetes",
            "clinicalStatus": "active",
            "onsetDate": "2020-03-15",
        },
        {"display": "Appendicitis", "clinicalStatus": "resolved"},
    ]
    log = deliveries(emulator, client, "/api/v1/agent", body)
    result = log[-1].payload["result"]
    assert result["selectedElements"] == [
        {
            "item": "Hemoglobin A1c",
            "category": "Laboratory Value",
            "patient_value": "7.2%",
            "matching_reason": "High Hemoglobin A1c (reference range 4.0-5.6)",
        },
        {
            "item": "Type 2 Diabetes",
            "category": "Condition",
            "patient_value": "active since 2020-03-15",
            "matching_reason": "Active condition Type 2 Diabetes shapes the interpretation",
        },
    ]
    assert result["researchTasks"] == [
        "Research current guidelines for Hemoglobin A1c",
        "Research current guidelines for Type 2 Diabetes",
    ]
    assert "Hemoglobin A1c" in result["patientResponse"]


def test_a_light_run_without_abnormal_findings_selects_nothing(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    body = {"webhookUrl": receiver.url, "agentType": "light", "data": {"patientInfo": {"age": 30}}}
    final = deliveries(emulator, client, "/api/v1/agent", body)[-1].payload
    validate("webhook-ehr-completed", final)
    assert final["result"]["selectedElements"] == []
    assert "researchTasks" not in final["result"]


def test_the_same_request_gives_the_same_result(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    body = agent_request("light", receiver.url)
    first = deliveries(emulator, client, "/api/v1/agent", body)[-1].payload
    second = deliveries(emulator, client, "/api/v1/agent", body)[-1].payload
    assert first["runId"] != second["runId"]
    assert first["result"] == second["result"]
    other = agent_request("light", receiver.url)
    other["data"]["recentAbnormalLabs"][0]["value"] = "8.1"
    third = deliveries(emulator, client, "/api/v1/agent", other)[-1].payload
    assert third["result"]["citations"] != first["result"]["citations"]


def test_lab_results_split_value_and_unit_and_count_the_labs(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    body = lab_request(receiver.url)
    body["labResults"].append({"name": "Sodium", "value": "140 mEq/L", "flag": "Normal"})
    result = deliveries(emulator, client, "/api/v1/lab-results", body)[-1].payload["result"]
    assert result["labResults"][0] == {
        "name": "Creatinine",
        "value": "1.8",
        "unit": "mg/dL",
        "flag": "High",
        "referenceRange": "0.7-1.3 mg/dL",
        "date": "2025-01-15",
        "category": "Renal",
    }
    assert result["metadata"] == {"labsReceived": 2, "labsAnalyzed": 2, "insightsMatched": 1}


def test_more_than_200_labs_are_processed_as_the_200_most_recent(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    labs = [
        {"name": f"Lab {n}", "value": str(n), "date": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}"}
        for n in range(250)
    ]
    body = {"webhookUrl": receiver.url, "labResults": labs}
    final = deliveries(emulator, client, "/api/v1/lab-results", body)[-1].payload
    validate("webhook-lab-results-completed", final)
    result = final["result"]
    assert result["metadata"]["labsReceived"] == 250
    assert result["metadata"]["labsAnalyzed"] == 200
    kept = {lab["name"] for lab in result["labResults"]}
    dropped = {lab["name"] for lab in labs} - kept
    newest_dropped = max(lab["date"] for lab in labs if lab["name"] in dropped)
    oldest_kept = min(lab["date"] for lab in labs if lab["name"] in kept)
    assert newest_dropped <= oldest_kept
