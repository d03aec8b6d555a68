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
from pathlib import Path

import pytest

from tests.example_projects import assert_passed_on_the_emulator_from_cassettes, lint_cassettes

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

    assert_passed_on_the_emulator_from_cassettes(result, at_least=18)


def test_the_fastapi_examples_cassette_lints_clean(example: Path) -> None:
    assert lint_cassettes(example) == (0, "helios-cassettes: 2 cassettes checked, no findings")
