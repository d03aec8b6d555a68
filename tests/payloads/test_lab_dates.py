"""Lab dates: "ISO 8601 or YYYY-MM-DD" (helios-api.md section 2.3, lab result item table,
[S:lab])."""

from __future__ import annotations

import pytest

from pytest_helios import ContractViolation, validate


def lab_request(date: str) -> dict[str, object]:
    lab = {"name": "Creatinine", "value": "1.8 mg/dL", "date": date}
    return {"webhookUrl": "https://example.invalid/h", "labResults": [lab]}


@pytest.mark.parametrize(
    "date",
    [
        "2025-01-15",
        "20250115",
        "2025-01-15T08:30:00",
        "2025-01-15T08:30",
        "2025-01-15T08:30:00.250",
        "2025-01-15T08:30:00Z",
        "2025-01-15T08:30:00+01:00",
        "20250115T083000Z",
        "20250115T0830",
    ],
)
def test_a_lab_dated_in_any_iso_8601_form_is_accepted(date: str) -> None:
    """helios-api.md 2.3 [S:lab]: `date` is "ISO 8601 or YYYY-MM-DD"."""
    validate("lab-results-request", lab_request(date))


@pytest.mark.parametrize("date", ["15/01/2025", "2025-1-5", "2025-01-15 08:30", "yesterday", ""])
def test_a_lab_date_in_no_iso_8601_form_is_refused_naming_the_field(date: str) -> None:
    with pytest.raises(ContractViolation) as refused:
        validate("lab-results-request", lab_request(date))
    assert refused.value.violations[0].path == "$.labResults[0].date"
