"""`pytest_helios.payloads.builders` builds valid Helios payloads for the emulator and tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from pytest_helios import validate
from pytest_helios.facts import UNAUTHORIZED_REASONS
from pytest_helios.payloads.builders import (
    FINAL_SEQUENCE_NUMBER,
    STEP_NAMES,
    accepted_response,
    ehr_completed,
    error_webhook,
    format_timestamp,
    lab_results_completed,
    most_recent_labs,
    rate_limit_error,
    split_value_unit,
    status_update,
    status_updates,
    unauthorized_error,
    validation_error,
)

RUN_ID = "550e8400-e29b-41d4-a716-446655440000"
START = datetime(2025, 1, 15, 12, 0, 0, 123456, tzinfo=timezone.utc)


def _lab(name: str, date: str | None, value: str = "1.8 mg/dL") -> dict[str, Any]:
    lab = {"name": name, "value": value}
    if date is not None:
        lab["date"] = date
    return lab


def test_timestamps_are_utc_with_milliseconds_and_z() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_timestamp(START.astimezone(paris)) == "2025-01-15T12:00:00.123Z"
    assert format_timestamp("2025-01-15T12:00:00.000Z") == "2025-01-15T12:00:00.000Z"


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timestamp must be timezone-aware, got naive datetime"):
        format_timestamp(datetime(2025, 1, 15))


def test_the_synchronous_bodies_validate_against_their_schemas() -> None:
    validate("accepted-response", accepted_response(RUN_ID))
    validate("validation-error", validation_error([("labResults", "must not be empty")]))
    validate("rate-limit-error", rate_limit_error("lab-results", 7, 7))
    for reason in UNAUTHORIZED_REASONS:
        validate("unauthorized-error", unauthorized_error(reason))


def test_the_429_message_reads_as_documented() -> None:
    assert rate_limit_error("light", 7, 7)["message"] == (
        "You have 7 active light agent requests. Maximum is 7."
    )


def test_a_400_summary_names_the_first_field_and_counts_the_rest() -> None:
    body = validation_error([("data.patientInfo.age", "must be a number"), ("", "bad")])
    assert body["message"] == "data.patientInfo.age: must be a number (and 1 more)"
    assert body["details"][1] == {"field": "", "message": "bad"}


def test_an_unknown_401_reason_or_agent_is_refused_with_the_valid_values() -> None:
    with pytest.raises(ValueError) as refused:
        unauthorized_error("Nope")
    assert str(refused.value) == (
        "unknown 401 reason 'Nope'. Valid reasons: Missing x-api-key header, Invalid API key, "
        "API key has been revoked, API key belongs to a different account"
    )
    with pytest.raises(ValueError) as caught:
        status_update(RUN_ID, "ehr", 1, timestamp=START)
    assert str(caught.value) == "'ehr' is not a valid agent. Valid values: light, deep, lab-results"


@pytest.mark.parametrize("agent", ["light", "deep", "lab-results"])
def test_a_run_sends_one_status_update_for_every_step_numbered_as_the_step(agent: str) -> None:
    """helios-api.md 3.5: a status update is sent "at each processing step"; 3.4:
    `sequenceNumber` "increases monotonically". Every step of the agent is announced, its
    sequenceNumber the step number, and the final payload comes after the last step."""
    steps = STEP_NAMES[agent]  # type: ignore[index]
    stamps = [START + timedelta(seconds=30 * n) for n in range(len(steps))]
    updates = status_updates(RUN_ID, agent, timestamps=stamps)
    assert [u["sequenceNumber"] for u in updates] == list(range(1, len(steps) + 1))
    assert [u["step"] for u in updates] == list(range(1, len(steps) + 1))
    assert [u["stepName"] for u in updates] == list(steps)
    assert {u["totalSteps"] for u in updates} == {len(steps)}
    assert FINAL_SEQUENCE_NUMBER[agent] == len(steps) + 1  # type: ignore[index]
    for update in updates:
        validate("webhook-status-update", update)
        validate("webhook", update)


def test_the_light_run_announces_all_eight_documented_steps_and_ends_at_nine() -> None:
    """helios-api.md 3.5, "Light Agent steps": 1. Processing started ... 7. Finalizing results,
    8. "Delivering final re…" (cut off); a status update is sent "at each processing step"."""
    documented = """\
1. Processing started
2. Analyzing health data
3. Selecting relevant elements
4. Researching medical literature
5. Generating patient response
6. Generating clinician response
7. Finalizing results
8. Delivering final results"""
    numbered = [f"{n}. {name}" for n, name in enumerate(STEP_NAMES["light"], start=1)]
    assert numbered == documented.splitlines()
    assert FINAL_SEQUENCE_NUMBER["light"] == 9


def test_the_lab_results_final_keeps_its_documented_sequence_number_8() -> None:
    """helios-api.md 3.4: "Example final payloads: ... `sequenceNumber: 8` for a Lab Results
    run"; its steps are assumed, seven of them, so that every one is announced before it."""
    assert FINAL_SEQUENCE_NUMBER["lab-results"] == 8
    assert len(STEP_NAMES["lab-results"]) == 7
    assert FINAL_SEQUENCE_NUMBER["deep"] == 8
    assert len(STEP_NAMES["deep"]) == 7


def test_a_status_update_for_a_step_beyond_the_agents_list_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        status_update(RUN_ID, "deep", 8, timestamp=START)
    assert str(refused.value) == "step must be between 1 and 7 for agent 'deep', got 8"


def test_light_and_deep_completions_validate_and_only_deep_has_research_tasks() -> None:
    light = ehr_completed(RUN_ID, "light", timestamp=START)
    deep = ehr_completed(RUN_ID, "deep", timestamp=START, research_tasks=["Find trials"])
    for payload in (light, deep):
        validate("webhook-ehr-completed", payload)
        validate("webhook", payload)
    assert (light["sequenceNumber"], deep["sequenceNumber"]) == (9, 8)
    assert "researchTasks" not in light["result"]
    assert deep["result"]["researchTasks"] == ["Find trials"]
    with pytest.raises(ValueError, match="light results carry no researchTasks"):
        ehr_completed(RUN_ID, "light", timestamp=START, research_tasks=["x"])


def test_a_lab_results_completion_splits_units_and_counts_the_labs() -> None:
    labs = [_lab("Creatinine", "2025-01-15"), _lab("eGFR", None, "38 mL/min/1.73m2")]
    payload = lab_results_completed(RUN_ID, labs, timestamp=START, insights_matched=3)
    validate("webhook-lab-results-completed", payload)
    validate("webhook", payload)
    assert payload["sequenceNumber"] == 8
    assert payload["result"]["labResults"][0] == {
        "name": "Creatinine",
        "value": "1.8",
        "unit": "mg/dL",
        "date": "2025-01-15",
    }
    assert payload["result"]["metadata"] == {
        "labsReceived": 2,
        "labsAnalyzed": 2,
        "insightsMatched": 3,
    }


def test_more_than_200_labs_are_cut_to_the_200_most_recent_in_submitted_order() -> None:
    labs = [_lab(f"old {n}", "2020-01-01") for n in range(5)]
    labs += [_lab("undated", None)]
    labs += [_lab(f"new {n}", f"2025-01-{1 + n % 28:02d}T08:00:00Z") for n in range(199)]
    labs += [_lab("newest", "2025-02-01")]
    kept = most_recent_labs(labs)
    assert len(kept) == 200
    assert kept[-1]["name"] == "newest"
    assert all(lab["name"].startswith(("new", "newest")) for lab in kept)
    payload = lab_results_completed(RUN_ID, labs, timestamp=START)
    validate("webhook-lab-results-completed", payload)
    assert payload["result"]["metadata"]["labsReceived"] == 206
    assert payload["result"]["metadata"]["labsAnalyzed"] == 200


@pytest.mark.parametrize(
    ("value", "split"),
    [
        ("1.8 mg/dL", ("1.8", "mg/dL")),
        ("7.2%", ("7.2", "%")),
        (">60 mL/min/1.73m2", (">60", "mL/min/1.73m2")),
        ("138/88", ("138/88", None)),
        ("positive", ("positive", None)),
    ],
)
def test_a_unit_inside_the_value_is_moved_to_unit(
    value: str, split: tuple[str, str | None]
) -> None:
    lab = split_value_unit({"name": "x", "value": value})
    assert (lab["value"], lab.get("unit")) == split


def test_an_error_webhook_validates_and_replaces_the_final_payload() -> None:
    payload = error_webhook(
        RUN_ID, "lab-results", timestamp=START, sequence_number=4, message="Parsing failed"
    )
    validate("webhook-error", payload)
    validate("webhook", payload)
    assert payload["error"] == {"message": "Parsing failed", "code": "processing_failed"}
    without_code = error_webhook(
        RUN_ID, "light", timestamp=START, sequence_number=2, message="x", code=None
    )
    assert without_code["error"] == {"message": "x"}
