"""docs/assumptions.md is generated from the assumptions catalogue the contract report reads, so
the page and the report list the same entries; running this file regenerates the page:

    python tests/contract/test_assumptions_catalogue.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

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


if __name__ == "__main__":
    PAGE.write_text(markdown_page(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE.name}\n")
