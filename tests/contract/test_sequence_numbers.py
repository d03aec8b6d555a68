"""The contract suite's numbering check against the light run's two documented numberings.

helios-api.md 3.5 says a status update is sent "at each processing step" and lists eight light
steps; 3.4 shows the light completion example with "`sequenceNumber: 7`". The project follows
the prose (updates 1..8, final 9); a target that numbers as the example does is reported as
contradicting ``gap:sequence-numbers``, with the numbers it sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_helios.contract._recorder import CONFIRMED, CONTRADICTED, ContractRecorder
from pytest_helios.contract.test_webhooks import check_numbering
from pytest_helios.payloads import FINAL_SEQUENCE_NUMBER, STEP_NAMES

RUN_ID = "550e8400-e29b-41d4-a716-446655440000"


def light_run(updates: int, final: int) -> list[dict[str, Any]]:
    names = STEP_NAMES["light"]
    sent: list[dict[str, Any]] = [
        {
            "status": "processing",
            "sequenceNumber": n,
            "step": n,
            "totalSteps": len(names),
            "stepName": names[n - 1],
        }
        for n in range(1, updates + 1)
    ]
    return [*sent, {"runId": RUN_ID, "status": "completed", "sequenceNumber": final}]


def test_a_light_run_with_an_update_for_each_of_its_eight_steps_then_nine_confirms_the_gap(
    tmp_path: Path,
) -> None:
    """helios-api.md 3.5: a status update is sent "at each processing step"."""
    recorder = ContractRecorder(tmp_path / "report.md")
    check_numbering(recorder, "light", light_run(8, 9), FINAL_SEQUENCE_NUMBER["light"])
    assert recorder.verdict("gap:sequence-numbers") == CONFIRMED


def test_a_target_numbering_the_light_run_as_the_documented_example_contradicts_the_gap(
    tmp_path: Path,
) -> None:
    """helios-api.md 3.4: "Example final payloads: `sequenceNumber: 7` for a Light run"."""
    recorder = ContractRecorder(tmp_path / "report.md")
    with pytest.raises(pytest.fail.Exception) as failed:
        check_numbering(recorder, "light", light_run(6, 7), FINAL_SEQUENCE_NUMBER["light"])
    assert str(failed.value) == "light: sequenceNumbers [1, 2, 3, 4, 5, 6, 7], expected 1..9"
    assert recorder.verdict("gap:sequence-numbers") == CONTRADICTED
    assert recorder.contradictions("gap:sequence-numbers") == [
        ("light run's webhooks", "sequenceNumbers [1, 2, 3, 4, 5, 6, 7]")
    ]
