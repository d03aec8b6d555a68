"""docs/assumptions.md is generated from the assumptions catalogue the contract report reads, so
the page and the report list the same entries; running this file regenerates the page:

    python tests/contract/test_assumptions_catalogue.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pytest_helios.contract._assumptions import all_assumptions
from pytest_helios.contract._catalogue import (
    BEHAVIOUR,
    GAP,
    SCHEMA,
    by_key,
    catalogue,
    markdown_page,
)

PAGE = Path(__file__).resolve().parents[2] / "docs" / "assumptions.md"
API_NOTES_GAPS = 19  # helios-api.md section 6 numbers its gaps 1..19


def test_docs_assumptions_md_is_the_page_the_catalogue_generates() -> None:
    assert PAGE.read_text(encoding="utf-8") == markdown_page(), (
        "docs/assumptions.md differs from the catalogue: run "
        "python tests/contract/test_assumptions_catalogue.py"
    )


def test_the_catalogue_has_every_gap_of_the_api_notes_and_every_schema_assumption() -> None:
    """helios-api.md section 6 lists 19 gaps; each is one entry citing its number."""
    entries = catalogue()
    gaps = [e for e in entries if e.kind == GAP]
    assert [re.search(r"section 6\.(\d+);", e.source)[1] for e in gaps] == [  # type: ignore[index]
        str(n) for n in range(1, API_NOTES_GAPS + 1)
    ]
    assert len([e for e in entries if e.kind == BEHAVIOUR]) >= 13
    assert [e.key for e in entries if e.kind == SCHEMA] == [a.location for a in all_assumptions()]
    assert len({e.key for e in entries}) == len(entries)


def test_every_entry_is_observed_through_known_entries_or_says_why_it_never_is() -> None:
    known = by_key()
    for entry in catalogue():
        assert all(key in known and key != entry.key for key in entry.covered_by), entry.key
        assert not (entry.covered_by and entry.never_observed), entry.key


def test_the_429_error_string_is_an_assumption_listed_in_the_page() -> None:
    """helios-api.md section 4 shows one 429 body, `"error": "Too many concurrent requests"`:
    an example, not a stated rule, so the schema's constant is an assumption."""
    entry = by_key()["rate-limit-error.json#/properties/error"]
    assert entry.kind == SCHEMA
    assert entry.assumption == (
        'Assumed: always the string of the one documented 429 body, "Too many concurrent '
        'requests" (the documentation shows a single example and states no rule).'
    )
    assert "| `rate-limit-error.json#/properties/error` |" in PAGE.read_text(encoding="utf-8")


def test_the_ehr_date_format_is_an_assumption_listed_in_the_page() -> None:
    """helios-api.md section 2.2: "Dates use `YYYY-MM-DD`" describes the EHR examples; no rule
    is stated for the EHR page, so YYYY-MM-DD only is an assumption."""
    entry = by_key()["definitions.json#/$defs/isoDate"]
    assert entry.kind == SCHEMA
    assert entry.assumption.startswith("Assumed: YYYY-MM-DD only, the form every EHR example uses")
    assert "| `definitions.json#/$defs/isoDate` |" in PAGE.read_text(encoding="utf-8")


def test_a_429_with_another_error_string_contradicts_only_that_assumption(
    tmp_path: Path,
) -> None:
    """A live 429 worded otherwise is reported against the assumed string, with what it said."""
    from pytest_helios.contract._recorder import CONTRADICTED, ContractRecorder
    from pytest_helios.exceptions import ContractViolation

    recorder = ContractRecorder(tmp_path / "report.md")
    body = {"error": "Rate limit exceeded", "message": "...", "activeCount": 7, "limit": 7}
    with pytest.raises(ContractViolation):
        recorder.check("rate-limit-error", body, "429 at the concurrency limit")
    assert recorder.verdict("rate-limit-error.json#/properties/error") == CONTRADICTED
    assert recorder.contradictions("rate-limit-error.json#/properties/error") == [
        (
            "429 at the concurrency limit",
            "$.error = 'Rate limit exceeded' (expected 'Too many concurrent requests')",
        )
    ]


if __name__ == "__main__":
    PAGE.write_text(markdown_page(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE.name}\n")
