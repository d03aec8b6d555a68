"""Builders of valid Helios payloads, shared by the emulator, the fake webhooks and the tests.

Every function returns a plain ``dict`` that validates against its schema in ``schemas/``
(``tests/payloads/test_builders.py`` checks each one). Where the documentation is silent, the
builders follow the project's assumptions, listed in ``schemas/README.md``: the status-update
and error webhook shapes, the step lists of the deep and lab-results agents, and the sequence
numbers.

Nothing here reads a clock: every timestamp is a parameter (a timezone-aware ``datetime``, or a
string already in ISO 8601 form).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pytest_helios.facts import (
    ACCEPTED_MESSAGE,
    LAB_LIMIT,
    UNAUTHORIZED_REASONS,
    Agent,
    check_agent,
)

__all__ = [
    "FINAL_SEQUENCE_NUMBER",
    "PATIENT_REPORT_SECTIONS",
    "STEP_NAMES",
    "accepted_response",
    "ehr_completed",
    "error_webhook",
    "format_timestamp",
    "lab_results_completed",
    "most_recent_labs",
    "patient_report",
    "rate_limit_error",
    "serialize",
    "split_value_unit",
    "status_update",
    "status_updates",
    "unauthorized_error",
    "validation_error",
]

Timestamp = datetime | str
Payload = dict[str, Any]


#: Processing steps per agent. Light is documented (8 steps); deep and lab-results are assumed,
#: with 7 steps each so that their final payloads keep sequenceNumber 8 (lab-results: the
#: documented example; deep: the number it had before every step was announced).
STEP_NAMES: Mapping[Agent, tuple[str, ...]] = {
    "light": (
        "Processing started",
        "Analyzing health data",
        "Selecting relevant elements",
        "Researching medical literature",
        "Generating patient response",
        "Generating clinician response",
        "Finalizing results",
        "Delivering final results",
    ),
    "deep": (
        "Processing started",
        "Analyzing health data",
        "Selecting relevant elements",
        "Planning research tasks",
        "Researching medical literature",
        "Generating patient and clinician responses",
        "Delivering final results",
    ),
    "lab-results": (
        "Processing started",
        "Parsing lab results",
        "Matching insights",
        "Researching medical literature",
        "Generating patient response",
        "Generating clinician response",
        "Delivering final results",
    ),
}

#: The final payload's ``sequenceNumber`` per agent: one status update is sent at every step
#: (``sequenceNumber`` = step), then the final payload (or the error webhook) with the number
#: of steps + 1: light 9, deep 8, lab-results 8 (the documented lab-results example). The
#: documented light example shows 7; the documented prose ("at each processing step", eight
#: light steps) is followed instead (helios-api.md 6.6, ``gap:sequence-numbers``).
FINAL_SEQUENCE_NUMBER: Mapping[Agent, int] = {
    agent: len(names) + 1 for agent, names in STEP_NAMES.items()
}


def format_timestamp(moment: Timestamp) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, e.g. ``2025-01-15T12:01:30.000Z``.

    A string is returned unchanged; a naive ``datetime`` is refused (its zone is unknown).
    """
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp must be timezone-aware, got naive datetime {moment!r}")
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def serialize(payload: object) -> bytes:
    """Compact JSON in raw UTF-8, as JavaScript's ``JSON.stringify`` writes it: the bytes of a
    request body or of a webhook delivery."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def accepted_response(run_id: str, message: str = ACCEPTED_MESSAGE) -> Payload:
    """The 200 body of both endpoints: ``{runId, status: "accepted", message}``."""
    return {"runId": run_id, "status": "accepted", "message": message}


def validation_error(details: Sequence[tuple[str, str]], message: str | None = None) -> Payload:
    """The assumed 400 body. ``details`` holds ``(field, what is wrong)`` pairs, field being a
    dotted path such as ``labResults[3].value`` (``""`` for the root)."""
    if not details:
        raise ValueError("validation_error needs at least one (field, message) detail")
    if message is None:
        first_field, first_message = details[0]
        where = first_field or "request body"
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        message = f"{where}: {first_message}{more}"
    return {
        "error": "Validation Error",
        "message": message,
        "details": [{"field": field, "message": text} for field, text in details],
    }


def unauthorized_error(reason: str) -> Payload:
    """The assumed 401 body; ``reason`` is one of :data:`UNAUTHORIZED_REASONS`."""
    if reason not in UNAUTHORIZED_REASONS:
        raise ValueError(
            f"unknown 401 reason {reason!r}. Valid reasons: {', '.join(UNAUTHORIZED_REASONS)}"
        )
    return {"error": "Unauthorized", "message": reason}


def rate_limit_error(agent: str, active_count: int, limit: int) -> Payload:
    """The documented 429 body, e.g. "You have 7 active light agent requests. Maximum is 7.".

    Its ``error`` string is the documented example's, assumed constant
    (``rate-limit-error.json#/properties/error``)."""
    return {
        "error": "Too many concurrent requests",
        "message": f"You have {active_count} active {check_agent(agent)} agent requests. "
        f"Maximum is {limit}.",
        "activeCount": active_count,
        "limit": limit,
    }


def status_update(
    run_id: str,
    agent: str,
    step: int,
    *,
    timestamp: Timestamp,
    sequence_number: int | None = None,
) -> Payload:
    """The assumed progress webhook for ``step`` (1-based); ``sequenceNumber`` defaults to
    the step number."""
    names = STEP_NAMES[check_agent(agent)]
    if not 1 <= step <= len(names):
        raise ValueError(f"step must be between 1 and {len(names)} for agent {agent!r}, got {step}")
    return {
        "runId": run_id,
        "status": "processing",
        "agent": agent,
        "timestamp": format_timestamp(timestamp),
        "sequenceNumber": step if sequence_number is None else sequence_number,
        "step": step,
        "totalSteps": len(names),
        "stepName": names[step - 1],
    }


def status_updates(
    run_id: str, agent: str, *, timestamps: Sequence[Timestamp], until_step: int | None = None
) -> list[Payload]:
    """The status updates a run sends before its final payload: steps 1 .. ``until_step``
    (default: every step of the agent), one timestamp each."""
    last = FINAL_SEQUENCE_NUMBER[check_agent(agent)] - 1 if until_step is None else until_step
    if len(timestamps) < last:
        raise ValueError(f"need {last} timestamps for steps 1..{last}, got {len(timestamps)}")
    return [
        status_update(run_id, agent, step, timestamp=timestamps[step - 1])
        for step in range(1, last + 1)
    ]


#: The patient report's five documented sections, in order ("Health Summary, Key Health Areas,
#: Recommended Tests, What You Can Do, Timeline", with emoji headings such as
#: ``## 👤 Your Health Summary`` [S:resp]); the other four emojis are assumed.
PATIENT_REPORT_SECTIONS: tuple[str, ...] = (
    "👤 Your Health Summary",
    "🔑 Key Health Areas",
    "🧪 Recommended Tests",
    "💡 What You Can Do",
    "📅 Timeline",
)


def patient_report(*sections: str) -> str:
    """A ``patientResponse``: the five documented sections, each a Markdown ``##`` heading
    followed by its text (one text per section, in :data:`PATIENT_REPORT_SECTIONS` order)."""
    if len(sections) != len(PATIENT_REPORT_SECTIONS):
        raise ValueError(
            f"patient_report takes {len(PATIENT_REPORT_SECTIONS)} section texts, "
            f"got {len(sections)}"
        )
    pairs = zip(PATIENT_REPORT_SECTIONS, sections, strict=True)
    return "\n\n".join(f"## {heading}\n\n{text}" for heading, text in pairs)


_PATIENT_RESPONSE = patient_report(
    "Your recent lab results show a few values outside the usual range [1].",
    "Blood sugar control.",
    "A repeat HbA1c in three months.",
    "Talk to your doctor about a follow-up test [2].",
    "Follow-up in 3 months.",
)
_CLINICIAN_RESPONSE = (
    "The patient presents with values outside the reference range; consider guideline-based "
    "follow-up [1]."
)
_CITATIONS: Payload = {
    "patient": {
        "1": {
            "url": "https://pubmed.ncbi.nlm.nih.gov/12345678/",
            "title": "Glycemic targets in type 2 diabetes",
            "metadata": {"type": "pubmed"},
        },
        "2": {
            "url": "https://doi.org/10.2337/dc24-S006",
            "title": "Standards of Care in Diabetes",
            "metadata": {
                "type": "guideline",
                "source": "ADA",
                "author": "American Diabetes Association",
                "doi": "10.2337/dc24-S006",
                "pubdate": "2024-01-01",
                "abstract_snippet": "Recommendations for glycemic targets.",
                "specialties": ["Endocrinology"],
            },
        },
    },
    "clinician": {
        "1": {
            "url": "https://pubmed.ncbi.nlm.nih.gov/87654321/",
            "title": "ADA Standards of Care 2025",
            "metadata": {"type": "pubmed"},
        }
    },
}
_SELECTED_ELEMENTS: list[Payload] = [
    {
        "item": "Hemoglobin A1c",
        "category": "Laboratory Value",
        "patient_value": "7.2%",
        "matching_reason": "Elevated HbA1c indicates suboptimal glycemic control",
    }
]
_RESEARCH_TASKS = ["Research current ADA guidelines for glycemic control in Type 2 Diabetes"]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def ehr_completed(
    run_id: str,
    agent: str,
    *,
    timestamp: Timestamp,
    sequence_number: int | None = None,
    selected_elements: Sequence[Mapping[str, Any]] | None = None,
    patient_response: str = _PATIENT_RESPONSE,
    clinician_response: str = _CLINICIAN_RESPONSE,
    citations: Mapping[str, Any] | None = None,
    research_tasks: Sequence[str] | None = None,
) -> Payload:
    """The completion webhook of a light or deep EHR run. Deep results carry ``researchTasks``
    (a sample task unless given); light results never do. Unset parts get realistic samples."""
    kind = check_agent(agent)
    if kind == "lab-results":
        raise ValueError("ehr_completed builds light and deep payloads; use lab_results_completed")
    if kind == "light" and research_tasks is not None:
        raise ValueError("light results carry no researchTasks (only deep mode adds them)")
    result: Payload = {
        "selectedElements": _copy(list(selected_elements or _SELECTED_ELEMENTS)),
        "patientResponse": patient_response,
        "clinicianResponse": clinician_response,
        "citations": _copy(dict(citations or _CITATIONS)),
    }
    if kind == "deep":
        result["researchTasks"] = list(
            _RESEARCH_TASKS if research_tasks is None else research_tasks
        )
    return _completed(run_id, kind, timestamp, sequence_number, result)


def lab_results_completed(
    run_id: str,
    request_labs: Sequence[Mapping[str, Any]],
    *,
    timestamp: Timestamp,
    sequence_number: int | None = None,
    insights_matched: int = 0,
    patient_response: str = _PATIENT_RESPONSE,
    clinician_response: str = _CLINICIAN_RESPONSE,
    citations: Mapping[str, Any] | None = None,
) -> Payload:
    """The completion webhook of a Lab Results run for the labs of its request: the
    :data:`LAB_LIMIT` most recent are analysed, value and unit come back split, and
    ``metadata`` counts labs received and analysed."""
    analysed = [split_value_unit(lab) for lab in most_recent_labs(request_labs)]
    result: Payload = {
        "labResults": analysed,
        "patientResponse": patient_response,
        "clinicianResponse": clinician_response,
        "citations": _copy(dict(citations or _CITATIONS)),
        "metadata": {
            "labsReceived": len(request_labs),
            "labsAnalyzed": len(analysed),
            "insightsMatched": insights_matched,
        },
    }
    return _completed(run_id, "lab-results", timestamp, sequence_number, result)


def _completed(
    run_id: str, agent: Agent, timestamp: Timestamp, sequence_number: int | None, result: Payload
) -> Payload:
    return {
        "runId": run_id,
        "status": "completed",
        "agent": agent,
        "timestamp": format_timestamp(timestamp),
        "sequenceNumber": FINAL_SEQUENCE_NUMBER[agent]
        if sequence_number is None
        else sequence_number,
        "result": result,
    }


def error_webhook(
    run_id: str,
    agent: str,
    *,
    timestamp: Timestamp,
    sequence_number: int,
    message: str,
    code: str | None = "processing_failed",
) -> Payload:
    """The assumed error webhook: ``status: "error"`` with ``error: {message, code}``. It
    replaces the final payload; ``sequence_number`` is the one after the last status update."""
    if not message:
        raise ValueError("an error webhook needs a non-empty message")
    error: Payload = {"message": message}
    if code is not None:
        error["code"] = code
    return {
        "runId": run_id,
        "status": "error",
        "agent": check_agent(agent),
        "timestamp": format_timestamp(timestamp),
        "sequenceNumber": sequence_number,
        "error": error,
    }


_VALUE_WITH_UNIT = re.compile(r"\s*([<>]?=?\s*-?\d+(?:[.,]\d+)?)\s*([%A-Za-zµμ°].*?)\s*\Z")


def split_value_unit(lab: Mapping[str, Any]) -> Payload:
    """A copy of ``lab`` with a unit inside ``value`` moved to ``unit`` ("1.8 mg/dL" ->
    "1.8" + "mg/dL"), as the documented Lab Results webhook shows. Labs that already have a
    unit, or whose value is not a number followed by a unit, are copied unchanged."""
    copy: Payload = _copy(dict(lab))
    value = copy.get("value")
    if "unit" in copy or not isinstance(value, str):
        return copy
    match = _VALUE_WITH_UNIT.match(value)
    if match:
        copy["value"], copy["unit"] = match.group(1), match.group(2)
    return copy


def _recency(lab: Mapping[str, Any]) -> float:
    """Seconds since the epoch of the lab's date; undated or unreadable dates sort oldest."""
    date = lab.get("date")
    if not isinstance(date, str):
        return float("-inf")
    text = date.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return float("-inf")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def most_recent_labs(
    labs: Sequence[Mapping[str, Any]], limit: int = LAB_LIMIT
) -> list[Mapping[str, Any]]:
    """The ``limit`` most recent labs, in their original order (assumed rule for more than 200
    labs; undated labs count as the oldest, ties keep the earlier-submitted lab)."""
    if len(labs) <= limit:
        return list(labs)
    ranked = sorted(range(len(labs)), key=lambda index: (-_recency(labs[index]), index))
    kept = sorted(ranked[:limit])
    return [labs[index] for index in kept]
