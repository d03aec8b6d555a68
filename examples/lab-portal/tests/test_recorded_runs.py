"""Recorded runs: the portal's traffic with Helios, recorded once into tests/cassettes/ (the
submission, and the run's webhooks beside it) and replayed offline by default, with the
deliveries freshly signed with the run's secret and delivered by the replay itself. Nothing
secret and no patient name is on disk.

Re-record against the emulator: pytest tests/test_recorded_runs.py --helios-record-mode=rewrite
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.helios_cassette


def test_a_recorded_lab_results_run_is_stored_completed(portal, labs, helios_cassette):
    context = {"name": "Ruth Abernathy-Quist", "age": "58", "gender": "female"}
    status, answer = portal.submit(labs, patientContext=context)
    assert status == 202
    if not helios_cassette.recording:  # replay: Helios is not called; its recorded webhooks
        # are signed afresh with the run's secret and delivered to the portal, as Helios would
        assert answer["runId"] == helios_cassette.webhooks[0]["run_id"]  # the recorded run

    shown = portal.wait_for_outcome(answer["runId"])

    assert shown["status"] == "completed"
    assert shown["result"]["metadata"] == {
        "labsReceived": 2,
        "labsAnalyzed": 2,
        "insightsMatched": 2,
    }


def test_a_recorded_refusal_of_a_bad_lab_is_answered_422(portal):
    status, answer = portal.submit([{"name": "Creatinine", "value": 1.8}])  # a number

    assert status == 422
    assert [d["field"] for d in answer["details"]] == ["labResults[0].value"]
