"""``helios-cassettes drift OLD NEW``: two recordings compared in the contract's terms."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_helios.cassettes.lint import main

ROOT = Path(__file__).resolve().parents[2]
#: the project's own recorded contract (tests/contract/test_recorded_contract.py)
RECORDED = ROOT / "cassettes"
REFUSAL = "test_recorded_contract/400-lab-value-a-number.yaml"


@pytest.fixture
def recordings(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(RECORDED, old)
    shutil.copytree(RECORDED, new)
    return old, new


def test_identical_recordings_have_no_drift_and_exit_0(
    recordings: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = recordings
    assert main(["drift", str(old), str(new)]) == 0
    files = len(list(RECORDED.rglob("*.yaml")))
    assert capsys.readouterr().out == f"no drift: {files} cassette files compared\n"


def test_a_field_a_status_and_a_header_that_changed_are_each_named_and_exit_1(
    recordings: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = recordings
    changed = new / REFUSAL
    text = changed.read_text(encoding="utf-8")
    text = text.replace("      code: 400\n", "      code: 422\n", 1)
    text = text.replace("      x-concurrent-limit:\n      - '7'\n", "", 1)
    text = text.replace(
        '"error": "Validation Error",',
        '"error": "Validation Error",\n          "requestId": 17,',
        1,
    )
    changed.write_text(text, encoding="utf-8")

    assert main(["drift", str(old), str(new)]) == 1

    where = f"{REFUSAL} #1 (POST /api/v1/lab-results)"
    assert capsys.readouterr().out.splitlines() == [
        f"{where}: status 400 -> 422",
        f"{where}: response header x-concurrent-limit went missing",
        f"{where} response: field $.requestId appeared (integer)",
        f"3 changes between {old} and {new}",
    ]


def test_a_value_whose_type_changed_and_a_field_that_disappeared_are_named(
    recordings: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = recordings
    changed = new / REFUSAL
    text = changed.read_text(encoding="utf-8")
    text = text.replace('"value": 1.8', '"value": "1.8"', 1)
    text = text.replace('"message": "labResults[0].value: expected string, got number"', '"m": 1')
    changed.write_text(text, encoding="utf-8")

    assert main(["drift", str(old), str(new)]) == 1

    where = f"{REFUSAL} #1 (POST /api/v1/lab-results)"
    assert capsys.readouterr().out.splitlines() == [
        f"{where} request: $.labResults[*].value changed type: number -> string",
        f"{where} response: field $.m appeared (integer)",
        f"{where} response: field $.message disappeared",
        f"3 changes between {old} and {new}",
    ]


def test_a_missing_recording_is_named_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", str(tmp_path / "gone"), str(tmp_path)]) == 2
    assert (
        capsys.readouterr().out == f"helios-cassettes drift: {tmp_path / 'gone'} does not exist\n"
    )
