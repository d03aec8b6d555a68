"""A missing cassette or an unmatched request fails with what was asked, the closest recorded
request, and the exact command that records it; never with a secret or a patient's name."""

from __future__ import annotations

import shlex

import pytest

from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

TEST = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    def test_calls():
        payload = {**LAB_REQUEST, "patientContext": {
            "name": "Margaret Oyelaran-Whitfield", "age": os.environ.get("AGE", "58")}}
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            for path in os.environ.get("CALLS", "/api/v1/lab-results").split(","):
                try:
                    response = client.post(URL + path, json=payload)
                except Exception:
                    if os.environ.get("SWALLOW"):
                        continue
                    raise
                assert response.status_code == 200
"""
LAB = "/api/v1/lab-results"


@pytest.fixture
def recorded(pytester: pytest.Pytester, server: FakeHelios) -> FakeHelios:
    write_project(pytester, server.url, TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    return server


def assert_private(result: pytest.RunResult, server: FakeHelios) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert server.api_key not in output
    assert "Oyelaran" not in output


def test_a_missing_cassette_names_the_request_and_the_command_that_records_it(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, TEST)

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "helios: no recorded response for POST https://api.heliosai.health/api/v1/lab-results",
            "  cassette:  cassettes/test_api/test_calls.yaml does not exist (record mode none)",
            '  asked:     POST /api/v1/lab-results {"labResults":*',
            "  record it: pytest test_api.py::test_calls --helios-record-mode=once",
        ]
    )
    assert_private(result, server)


def test_an_unmatched_request_shows_the_closest_recording_and_how_it_differs(
    pytester: pytest.Pytester, recorded: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGE", "61")

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "helios: no recorded response for POST https://api.heliosai.health/api/v1/lab-results",
            "  cassette:  cassettes/test_api/test_calls.yaml (1 interaction, record mode none)",
            '  asked:     POST /api/v1/lab-results {"labResults":*',
            "  closest:   interaction 0: POST /api/v1/lab-results",
            '             body $.patientContext.age: asked "61", recorded "58"',
            "  record it: pytest test_api.py::test_calls --helios-record-mode=new_episodes",
            "             (or --helios-record-mode=rewrite to record the cassette afresh)",
        ]
    )
    assert_private(result, recorded)


def test_a_request_sent_more_often_than_recorded_says_it_was_already_played(
    pytester: pytest.Pytester, recorded: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLS", f"{LAB},{LAB}")

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  closest:   interaction 0 matches but was already played (the test sends this "
            "request more often than when it was recorded)",
        ]
    )


def test_a_miss_fails_the_test_even_when_the_code_under_test_swallows_the_error(
    pytester: pytest.Pytester, recorded: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGE", "61")
    monkeypatch.setenv("SWALLOW", "1")

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["helios: no recorded response for POST *"])


def test_the_suggested_command_records_what_was_missing(
    pytester: pytest.Pytester, recorded: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGE", "61")
    pytester.runpytest().assert_outcomes(failed=1)

    pytester.runpytest(
        "test_api.py::test_calls", "--helios-record-mode=new_episodes"
    ).assert_outcomes(passed=1)

    pytester.runpytest().assert_outcomes(passed=1)


def test_the_printed_command_records_when_pytest_runs_from_a_subdirectory(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, server.url, TEST)
    suite = pytester.mkdir("suite")
    (pytester.path / "test_api.py").rename(suite / "test_api.py")
    monkeypatch.chdir(suite)

    result = pytester.runpytest("test_api.py")

    result.assert_outcomes(failed=1)
    # once in the failure, and again in the short summary when pytest runs with CI set
    [line] = {line for line in result.stdout.lines if line.startswith("  record it: ")}
    command = line.removeprefix("  record it: ")
    assert command == "pytest test_api.py::test_calls --helios-record-mode=once"
    program, *arguments = shlex.split(command)
    assert program == "pytest"
    pytester.runpytest(*arguments).assert_outcomes(passed=1)
    assert (pytester.path / "cassettes" / "test_api" / "test_calls.yaml").is_file()
