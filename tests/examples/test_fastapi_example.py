"""The FastAPI example (examples/fastapi-gateway) passes its own suite, with its own
configuration, as its users would run it: against the embedded emulator, its recorded cassette
replayed offline; and its cassette lints clean.

The example is copied into a temporary directory and run in a separate pytest process from
its folder, so its pyproject.toml (not this project's) configures the run, and nothing is
written into the repository. It takes a few seconds, so it runs with the quick suite (the
README's test command), unlike the slower lab-portal and install tests in tests/integration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi-gateway"
IGNORED = shutil.ignore_patterns(".pytest_cache", ".hypothesis", "__pycache__", ".ruff_cache")


@pytest.fixture
def example(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project, as the working directory of pytester's runs."""
    for variable in ("HELIOS_API_KEY", "HELIOS_WEBHOOK_SECRET", "HELIOS_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    shutil.copytree(EXAMPLE, pytester.path, ignore=IGNORED, dirs_exist_ok=True)
    return pytester.path


def test_the_fastapi_examples_suite_passes_against_the_emulator_and_its_cassette(
    pytester: pytest.Pytester, example: Path
) -> None:
    # a subprocess: the example's own pyproject.toml and conftest.py configure it
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes["passed"] >= 18
    assert "failed" not in outcomes and "skipped" not in outcomes
    result.stdout.fnmatch_lines(["helios: *, target=emulator (started on first use)"])
    assert "--helios-record-mode" not in result.stdout.str()  # the cassette replayed


def test_the_fastapi_examples_cassette_lints_clean(example: Path) -> None:
    linted = subprocess.run(
        [sys.executable, "-m", "pytest_helios.cassettes.lint", "lint", "tests/cassettes"],
        cwd=example,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (linted.returncode, linted.stdout.splitlines()[-1]) == (
        0,
        "helios-cassettes: 2 cassettes checked, no findings",
    )
