"""``--helios-unknown-fields`` (ini ``helios_unknown_fields``): what the session's emulator does
with a request field or ``patientContext`` key the documentation does not list. ``strict`` (the
default) refuses it with a 400 naming it; ``lenient`` accepts and ignores it."""

from __future__ import annotations

import pytest

#: A pytester test module: a lab-results request with an unknown field and an unknown
#: patientContext key, answered by the session's emulator.
UNKNOWN_FIELDS_TEST = """
import httpx

BODY = {
    "webhookUrl": "http://127.0.0.1:9/hook",
    "labResults": [{"name": "Sodium", "value": "140 mEq/L"}],
    "patientContext": {"age": "58", "mood": "calm"},
    "priority": "high",
}


def submit(base_url, key):
    return httpx.post(f"{base_url}/api/v1/lab-results", json=BODY, headers={"x-api-key": key})


def test_the_mode(helios_emulator, pytestconfig):
    assert helios_emulator.config.unknown_fields == pytestconfig.getoption("expected_mode")


def test_the_answer(helios_base_url, helios_api_key, pytestconfig):
    answer = submit(helios_base_url, helios_api_key)
    if pytestconfig.getoption("expected_mode") == "strict":
        assert answer.status_code == 400, answer.text
        details = sorted((d["field"], d["message"]) for d in answer.json()["details"])
        assert details == [
            ("", "unexpected properties: 'priority'"),
            ("patientContext", "unexpected properties: 'mood'"),
        ]
    else:
        assert answer.status_code == 200, answer.text
"""

CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--expected-mode", default="strict")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_unknown=UNKNOWN_FIELDS_TEST)
    pytester.makeconftest(CONFTEST)
    return pytester


def test_by_default_the_sessions_emulator_refuses_unknown_fields_naming_each(
    project: pytest.Pytester,
) -> None:
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("ini", "args", "mode"),
    [
        ("", ("--helios-unknown-fields=lenient",), "lenient"),
        ("helios_unknown_fields = lenient", (), "lenient"),
        ("helios_unknown_fields = lenient", ("--helios-unknown-fields=strict",), "strict"),
    ],
    ids=["option", "ini", "the command line wins"],
)
def test_the_option_or_its_ini_twin_sets_the_sessions_emulators_mode(
    project: pytest.Pytester, ini: str, args: tuple[str, ...], mode: str
) -> None:
    project.makeini(f"[pytest]\n{ini}\n")
    # strict: the mode and the 400 naming each unknown field; lenient: the mode (its answer,
    # a 200, is test_a_lenient_sessions_emulator_accepts_and_ignores_unknown_fields)
    only = () if mode == "strict" else ("-k", "test_the_mode")
    result = project.runpytest(*args, f"--expected-mode={mode}", *only)
    result.assert_outcomes(passed=2 if mode == "strict" else 1)


def test_a_lenient_sessions_emulator_accepts_and_ignores_unknown_fields(
    project: pytest.Pytester,
) -> None:
    project.runpytest(
        "--helios-unknown-fields=lenient", "--expected-mode=lenient", "-p", "no:randomly"
    ).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("ini", "args", "error"),
    [
        ("", ("--helios-unknown-fields=loose",), "'loose' is not a valid --helios-unknown-fields"),
        ("helios_unknown_fields = open", (), "'open' is not a valid helios_unknown_fields"),
    ],
    ids=["option", "ini"],
)
def test_a_bad_value_names_the_option_and_lists_the_valid_ones(
    pytester: pytest.Pytester, ini: str, args: tuple[str, ...], error: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {error}. Valid values: strict, lenient."])


def test_help_lists_the_option_and_its_ini_twin(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["  --helios-unknown-fields=strict|lenient*", "  helios_unknown_fields (string):*"]
    )
