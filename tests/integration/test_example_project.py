"""The downstream example (examples/lab-portal) passes its own suite, with its own
configuration, as its users would run it: against the embedded emulator, with its recorded
cassettes replayed offline; and its cassettes re-record against the emulator and lint clean.

The example is copied into a temporary directory and run in a separate pytest process, so its
pyproject.toml (not this project's) configures the run, and nothing is written into the
repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.example_projects import assert_passed_on_the_emulator_from_cassettes, lint_cassettes

pytestmark = pytest.mark.slow  # a whole install or project run: see .ci/run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lab-portal"
CASSETTES = Path("tests/cassettes/test_recorded_runs")
IGNORED = shutil.ignore_patterns(
    ".pytest_cache", ".hypothesis", "__pycache__", "*.sqlite3", "helios-contract-report.md"
)


@pytest.fixture
def example(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project, as the working directory of pytester's runs."""
    for variable in ("HELIOS_API_KEY", "HELIOS_WEBHOOK_SECRET", "HELIOS_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    shutil.copytree(EXAMPLE, pytester.path, ignore=IGNORED, dirs_exist_ok=True)
    return pytester.path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # a subprocess: the example's own pyproject.toml and conftest.py configure it
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_the_examples_suite_passes_against_the_emulator_and_from_its_cassettes(
    pytester: pytest.Pytester, example: Path
) -> None:
    cassettes = sorted(p.name for p in (example / CASSETTES).iterdir())
    assert cassettes == [
        "test_a_recorded_lab_results_run_is_stored_completed.webhooks.yaml",
        "test_a_recorded_lab_results_run_is_stored_completed.yaml",
        "test_a_recorded_refusal_of_a_bad_lab_is_answered_422.yaml",
    ]

    result = run(pytester)

    assert_passed_on_the_emulator_from_cassettes(result, at_least=100)


def test_the_examples_committed_cassettes_lint_clean(example: Path) -> None:
    assert lint_cassettes(example) == (0, "helios-cassettes: 3 cassettes checked, no findings")


def test_the_examples_cassettes_re_record_against_the_emulator_and_replay(
    pytester: pytest.Pytester, example: Path
) -> None:
    recorded = example / CASSETTES / "test_a_recorded_lab_results_run_is_stored_completed.yaml"
    before = recorded.read_text()

    run(pytester, "tests/test_recorded_runs.py", "--helios-record-mode=rewrite").assert_outcomes(
        passed=2
    )
    assert recorded.read_text() != before  # a new recording (a new runId and date)
    assert "Abernathy" not in recorded.read_text()  # the patient's name is a pseudonym
    lint = run(pytester, "--helios-lint-cassettes")
    assert lint.ret == 0
    lint.stdout.fnmatch_lines(["helios-cassettes: 3 cassettes checked, no findings"])

    run(pytester, "tests/test_recorded_runs.py").assert_outcomes(passed=2)
