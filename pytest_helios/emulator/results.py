"""Synthetic but input-derived run results: the same request always yields the same result.

- EHR runs (light, deep): every lab in ``data.recentAbnormalLabs`` becomes a selected element
  (category "Laboratory Value"), then every active entry of ``data.pastMedicalHistory``
  (category "Condition"), at most :data:`MAX_SELECTED`. Deep runs add one research task per
  selected element.
- Lab Results runs: the 200 most recent labs, value and unit split; ``insightsMatched`` counts
  the labs flagged other than "Normal".
- Responses name what was found and cite it; citation ids are derived from a digest of the
  request, so they are stable for the same input and differ between inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest_helios.payloads.builders as payloads

MAX_SELECTED = 10


def _digest(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _citations(request: Mapping[str, Any], topics: Sequence[str]) -> dict[str, Any]:
    digest = _digest(request)
    subject = topics[0] if topics else "general health"

    def pubmed(n: int, title: str) -> dict[str, Any]:
        pmid = 10_000_000 + int(digest[n * 6 : n * 6 + 6], 16) % 89_999_999
        return {
            "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
            "title": title,
            "metadata": {"type": "pubmed"},
        }

    return {
        "patient": {
            "1": pubmed(0, f"Understanding {subject}"),
            "2": pubmed(1, "Patient-centred follow-up of abnormal results"),
        },
        "clinician": {"1": pubmed(2, f"Clinical management of {subject}")},
    }


def _responses(findings: Sequence[str]) -> tuple[str, str]:
    """The patient report (its five documented sections) and the clinician response."""
    if findings:
        listed = "\n".join(f"- {item}" for item in findings)
        patient = payloads.patient_report(
            f"Your results show {len(findings)} item(s) worth attention [1]:\n\n{listed}",
            "\n".join(f"- {item}: outside the usual range" for item in findings),
            "A repeat of the results above, as your doctor advises.",
            "Talk to your doctor about a follow-up plan [2].",
            "Follow-up within 3 months.",
        )
        clinician = f"The patient presents with: {', '.join(findings)}. Consider follow-up [1]."
    else:
        patient = payloads.patient_report(
            "Nothing in the data you sent stands out [1].",
            "No area needs attention now.",
            "Your usual yearly tests.",
            "Keep up your regular check-ups [2].",
            "Next check-up in 12 months.",
        )
        clinician = "No abnormal findings in the submitted data [1]."
    return patient, clinician


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def selected_elements(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """The elements an EHR run selects from its ``data``."""
    elements: list[dict[str, str]] = []
    for lab in _dicts(data.get("recentAbnormalLabs")):
        name = _text(lab.get("display", "Laboratory value"))
        value = _text(lab.get("value", "")) + _text(lab.get("unit", ""))
        interpretation = _text(lab.get("interpretation", "Abnormal"))
        reference = lab.get("referenceRange")
        reason = f"{interpretation} {name}" + (
            f" (reference range {_text(reference)})" if reference is not None else ""
        )
        elements.append(
            {
                "item": name,
                "category": "Laboratory Value",
                "patient_value": value,
                "matching_reason": reason,
            }
        )
    for condition in _dicts(data.get("pastMedicalHistory")):
        if condition.get("clinicalStatus", "active") != "active":
            continue
        name = _text(condition.get("display", "Condition"))
        onset = condition.get("onsetDate")
        elements.append(
            {
                "item": name,
                "category": "Condition",
                "patient_value": "active" + (f" since {_text(onset)}" if onset else ""),
                "matching_reason": f"Active condition {name} shapes the interpretation",
            }
        )
    return elements[:MAX_SELECTED]


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def ehr_result(
    run_id: str, agent: str, request: Mapping[str, Any], *, timestamp: datetime, sequence: int
) -> dict[str, Any]:
    data = request.get("data")
    elements = selected_elements(data if isinstance(data, Mapping) else {})
    findings = [e["item"] for e in elements]
    patient, clinician = _responses(findings)
    tasks = None
    if agent == "deep":
        tasks = [f"Research current guidelines for {item}" for item in findings] or [
            "Research preventive care guidelines for the patient's profile"
        ]
    payload = payloads.ehr_completed(
        run_id,
        agent,
        timestamp=timestamp,
        sequence_number=sequence,
        selected_elements=elements,
        patient_response=patient,
        clinician_response=clinician,
        citations=_citations(request, findings),
        research_tasks=tasks,
    )
    # ehr_completed fills an empty selection with a sample; a run that found nothing says so.
    payload["result"]["selectedElements"] = elements
    return payload


def lab_result(
    run_id: str, request: Mapping[str, Any], *, timestamp: datetime, sequence: int
) -> dict[str, Any]:
    labs = list(_dicts(request.get("labResults")))
    analysed = payloads.most_recent_labs(labs)
    flagged = [_text(lab["name"]) for lab in analysed if lab.get("flag", "Normal") != "Normal"]
    patient, clinician = _responses(flagged)
    return payloads.lab_results_completed(
        run_id,
        labs,
        timestamp=timestamp,
        sequence_number=sequence,
        insights_matched=len(flagged),
        patient_response=patient,
        clinician_response=clinician,
        citations=_citations(request, flagged),
    )
