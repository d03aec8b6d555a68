"""What the tests of the example projects check the same way for each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def assert_passed_on_the_emulator_from_cassettes(result: pytest.RunResult, at_least: int) -> None:
    """The example's suite passed (at least ``at_least`` tests, none failed or skipped) against
    the embedded emulator, its cassettes replayed: a miss would have failed with the command
    that records it."""
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes["passed"] >= at_least
    assert "failed" not in outcomes and "skipped" not in outcomes
    result.stdout.fnmatch_lines(["helios: *, target=emulator (started on first use)"])
    assert "--helios-record-mode" not in result.stdout.str()


def lint_cassettes(example: Path) -> tuple[int, str]:
    """``helios-cassettes lint tests/cassettes`` in ``example``: its exit status and last line."""
    linted = subprocess.run(
        [sys.executable, "-m", "pytest_helios.cassettes.lint", "lint", "tests/cassettes"],
        cwd=example,
        capture_output=True,
        text=True,
        check=False,
    )
    return linted.returncode, linted.stdout.splitlines()[-1]
