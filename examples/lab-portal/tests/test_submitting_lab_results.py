"""Submitting labs: the portal sends them to Helios, receives the run's signed webhooks at its
own endpoint, and shows the analysis. Against the embedded emulator (the real API cannot reach
a loopback webhook URL, so these tests are skipped under --helios-live)."""

from __future__ import annotations

import pytest
from pytest_helios import validate
from pytest_helios.payloads import STEP_NAMES

pytestmark = pytest.mark.helios(target="emulator")

# the status updates a lab-results run sends, one per step, before its result (pytest-helios's
# step list, which the documentation leaves out for this agent: an assumption the contract suite
# checks)
LAB_STEPS = list(STEP_NAMES["lab-results"])


def test_submitted_labs_come_back_as_a_stored_analysis(portal, labs):
    status, answer = portal.submit(labs, patientContext={"age": "58", "gender": "male"})
    assert status == 202

    shown = portal.wait_for_outcome(answer["runId"])

    assert shown["status"] == "completed"
    assert shown["steps"] == LAB_STEPS  # in order, each once
    assert shown["result"]["metadata"]["labsReceived"] == 2
    assert [lab["name"] for lab in shown["result"]["labResults"]] == ["Creatinine", "eGFR"]


def test_the_stored_final_payload_keeps_the_documented_contract(portal, labs):
    _, answer = portal.submit(labs)
    portal.wait_for_outcome(answer["runId"])
    final = portal.app.store.submission(answer["runId"]).final
    validate("webhook-lab-results-completed", final)


def test_the_portal_stores_what_helios_delivers(
    portal, labs, helios_client, helios_webhook_receiver
):
    """The same labs sent straight to Helios, with a verifying receiver as the webhookUrl,
    give the same analysis the portal stored."""
    _, answer = portal.submit(labs)
    stored = portal.wait_for_outcome(answer["runId"])["result"]

    run = helios_client.submit_lab_results(
        lab_results=labs, webhook_url=helios_webhook_receiver.url
    )
    delivered = helios_webhook_receiver.wait_for_final(run.run_id)["result"]

    assert stored["labResults"] == delivered["labResults"]
    assert stored["metadata"] == delivered["metadata"]


def test_a_run_that_fails_is_shown_with_the_error_and_the_steps_it_reached(
    portal, labs, helios_account
):
    helios_account.fail_next_run("Lab parser failed", code="processing_failed", at_step=3)
    _, answer = portal.submit(labs)

    shown = portal.wait_for_outcome(answer["runId"])

    assert shown["status"] == "error"
    assert shown["error"] == {"message": "Lab parser failed", "code": "processing_failed"}
    assert shown["steps"] == LAB_STEPS[:2]


def test_labs_helios_refuses_are_answered_422_with_its_field_details(portal):
    status, answer = portal.submit([{"name": "Creatinine"}])  # no value

    assert (status, answer) == (
        422,
        {
            "error": "labResults[0].value: is required",
            "details": [{"field": "labResults[0].value", "message": "is required"}],
        },
    )


def test_helios_at_its_concurrency_limit_makes_the_portal_ask_to_retry_later(
    portal, labs, helios_account
):
    helios_account.exhaust_concurrency("lab-results")

    status, answer = portal.submit(labs)

    assert status == 503
    assert answer == {
        "error": "Helios is busy: You have 7 active lab-results agent requests. Maximum is 7."
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "send JSON with patientRef and labResults"),
        (b"\xff\xfe not JSON", "send JSON with patientRef and labResults"),
        (b'{"labResults": []}', "send JSON with patientRef and labResults"),
        (b'{"patientRef": "MRN-1", "labResults": {}}', "labResults must be a list"),
        (
            b'{"patientRef": "MRN-1", "labResults": [], "patientContext": "58"}',
            "patientContext must be an object",
        ),
    ],
)
def test_a_bad_form_is_refused_400_without_calling_helios(
    portal, body, error, helios_emulator, helios_account
):
    status, answer = portal.request("POST", "/submissions", body=body)

    assert (status, answer) == (400, {"error": error})
    assert [r for r in helios_emulator.runs if r.account_id == helios_account.id] == []
