"""The patient report has the five documented sections (helios-api.md section 3.7, "Response
text", [S:resp]: "The patient report has sections: Health Summary, Key Health Areas, Recommended
Tests, What You Can Do, Timeline. It uses emoji headings, e.g. `## 👤 Your Health Summary`")."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest

from pytest_helios.payloads.builders import PATIENT_REPORT_SECTIONS, ehr_completed, patient_report

DOCUMENTED = [
    "Health Summary",
    "Key Health Areas",
    "Recommended Tests",
    "What You Can Do",
    "Timeline",
]
EHR_DATA = {
    "patientInfo": {"age": 45, "gender": "male"},
    "recentAbnormalLabs": [
        {"date": "2025-01-15", "display": "Hemoglobin A1c", "value": "7.2", "unit": "%"}
    ],
}


def headings(markdown: str) -> list[str]:
    return re.findall(r"^## (.+)$", markdown, re.MULTILINE)


def test_the_sections_are_the_documented_five_in_order_with_the_documented_first_heading() -> None:
    """helios-api.md 3.7 [S:resp]: five sections; `## 👤 Your Health Summary` is the example."""
    assert [s.split(" ", 1)[1].removeprefix("Your ") for s in PATIENT_REPORT_SECTIONS] == DOCUMENTED
    assert PATIENT_REPORT_SECTIONS[0] == "👤 Your Health Summary"


def test_a_built_completed_payload_carries_all_five_sections() -> None:
    """helios-api.md 3.7 [S:resp]."""
    moment = datetime(2025, 1, 15, 12, 1, 30, tzinfo=timezone.utc)
    payload = ehr_completed("550e8400-e29b-41d4-a716-446655440000", "light", timestamp=moment)
    assert headings(payload["result"]["patientResponse"]) == list(PATIENT_REPORT_SECTIONS)


def test_patient_report_needs_one_text_per_section() -> None:
    with pytest.raises(ValueError, match=r"^patient_report takes 5 section texts, got 2$"):
        patient_report("a", "b")


@pytest.mark.parametrize("agent", ["light", "deep", "lab-results"])
def test_every_agent_of_the_emulator_delivers_a_patient_report_with_the_five_sections(
    helios_client: Any, helios_webhook_receiver: Any, agent: str
) -> None:
    """helios-api.md 3.7 [S:resp]: each run's patientResponse has the five sections."""
    url = helios_webhook_receiver.url
    if agent == "lab-results":
        lab = {"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High"}
        run = helios_client.submit_lab_results(lab_results=[lab], webhook_url=url)
    else:
        run = helios_client.submit_agent(agent_type=agent, data=EHR_DATA, webhook_url=url)
    final = helios_webhook_receiver.wait_for_final(run.run_id)
    assert headings(final["result"]["patientResponse"]) == list(PATIENT_REPORT_SECTIONS)
