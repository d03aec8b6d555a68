"""Record modes none (default), once, new_episodes, all and rewrite, set by option, ini
value, fixture or marker with one precedence: command line > marker > fixture > ini."""

from __future__ import annotations

import pytest
import yaml

from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

LAB = "/api/v1/lab-results"
AGENT = "/api/v1/agent"

CALLS_TEST = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette{marker}
    def test_calls():
        with httpx.Client(headers={{"x-api-key": os.environ["HELIOS_API_KEY"]}}) as client:
            for path in os.environ["CALLS"].split(","):
                assert client.post(URL + path, json=LAB_REQUEST).status_code == 200
"""
CASSETTE = "cassettes/test_api/test_calls.yaml"


def project(
    pytester: pytest.Pytester, server: FakeHelios, *, marker: str = "", ini: str = ""
) -> None:
    write_project(pytester, server.url, CALLS_TEST.format(marker=marker), ini=ini)


def recorded_paths(pytester: pytest.Pytester) -> list[str]:
    document = yaml.safe_load((pytester.path / CASSETTE).read_text())
    return [i["request"]["uri"].split(".health")[1] for i in document["interactions"]]


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, calls: str, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("CALLS", calls)
    return pytester.runpytest(*args)


def test_none_is_the_default_and_never_reaches_the_network(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server)

    run(pytester, monkeypatch, LAB).assert_outcomes(failed=1)

    assert server.hits == []
    assert not (pytester.path / "cassettes").exists()


def test_once_records_a_new_cassette_then_only_replays_it(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server)
    run(pytester, monkeypatch, LAB, "--helios-record-mode=once").assert_outcomes(passed=1)
    run(pytester, monkeypatch, LAB, "--helios-record-mode=once").assert_outcomes(passed=1)
    assert len(server.hits) == 1

    result = run(pytester, monkeypatch, f"{LAB},{AGENT}", "--helios-record-mode=once")

    result.assert_outcomes(failed=1)
    assert len(server.hits) == 1
    assert recorded_paths(pytester) == [LAB]


def test_new_episodes_replays_what_is_recorded_and_adds_what_is_new(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server)
    run(pytester, monkeypatch, LAB, "--helios-record-mode=once").assert_outcomes(passed=1)

    result = run(pytester, monkeypatch, f"{LAB},{AGENT}", "--helios-record-mode=new_episodes")

    result.assert_outcomes(passed=1)
    assert server.hits == [("POST", LAB), ("POST", AGENT)]
    assert recorded_paths(pytester) == [LAB, AGENT]


def test_all_sends_every_request_to_the_server_again(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server)
    run(pytester, monkeypatch, LAB, "--helios-record-mode=once").assert_outcomes(passed=1)

    run(pytester, monkeypatch, LAB, "--helios-record-mode=all").assert_outcomes(passed=1)

    assert server.hits == [("POST", LAB), ("POST", LAB)]


def test_rewrite_starts_the_cassette_afresh(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server)
    run(pytester, monkeypatch, f"{LAB},{AGENT}", "--helios-record-mode=once").assert_outcomes(
        passed=1
    )

    run(pytester, monkeypatch, AGENT, "--helios-record-mode=rewrite").assert_outcomes(passed=1)

    assert recorded_paths(pytester) == [AGENT]


def test_the_ini_value_sets_the_mode(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server, ini="helios_record_mode = once\n")

    run(pytester, monkeypatch, LAB).assert_outcomes(passed=1)

    assert recorded_paths(pytester) == [LAB]


def test_the_marker_wins_over_the_fixture(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(
        pytester,
        server.url,
        CALLS_TEST.format(marker='(record_mode="none")'),
        settings='record_mode="once"',
    )

    run(pytester, monkeypatch, LAB).assert_outcomes(failed=1)

    assert server.hits == []


def test_the_fixture_wins_over_the_ini_value(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(
        pytester,
        server.url,
        CALLS_TEST.format(marker=""),
        ini="helios_record_mode = none\n",
        settings='record_mode="once"',
    )

    run(pytester, monkeypatch, LAB).assert_outcomes(passed=1)

    assert server.hits == [("POST", LAB)]


def test_the_command_line_wins_over_the_marker(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, server, marker='(record_mode="none")')

    run(pytester, monkeypatch, LAB, "--helios-record-mode=once").assert_outcomes(passed=1)

    assert recorded_paths(pytester) == [LAB]


def test_a_bad_record_mode_option_names_the_option_and_lists_the_valid_values(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")

    result = pytester.runpytest("--helios-record-mode=sometimes")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'sometimes' is not a valid --helios-record-mode. "
            "Valid values: none, once, new_episodes, all, rewrite."
        ]
    )


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "helios_cassette_on_expiry = explode",
            "ERROR: 'explode' is not a valid helios_cassette_on_expiry. Valid values: warn, fail.",
        ),
        (
            "helios_replay_webhooks = maybe",
            "ERROR: 'maybe' is not a valid helios_replay_webhooks. "
            "Valid values: true, yes, on, 1, false, no, off, 0.",
        ),
    ],
)
def test_a_bad_ini_value_names_the_ini_value(
    pytester: pytest.Pytester, ini: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_nothing(): pass")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_bad_maximum_age_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")

    result = pytester.runpytest("--helios-cassette-max-age=-3")

    result.stderr.fnmatch_lines(
        [
            "ERROR: '-3' is not a valid --helios-cassette-max-age. "
            "Valid values: a positive number of days."
        ]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            '(recrd_mode="once")',
            "E   pytest.UsageError: test_api.py::test_calls: @pytest.mark.helios_cassette got an "
            "unknown argument 'recrd_mode'; valid arguments: record_mode, name, max_age_days, "
            "on_expiry, secret_headers, secret_keys, identifying_keys, contract_check, "
            "record_hosts, ignore_hosts, replay_webhooks",
        ),
        (
            '(record_mode="sometimes")',
            "E   pytest.UsageError: test_api.py::test_calls: 'sometimes' is not a valid "
            "record_mode of @pytest.mark.helios_cassette. "
            "Valid values: none, once, new_episodes, all, rewrite.",
        ),
        (
            '("once")',
            "E   pytest.UsageError: test_api.py::test_calls: @pytest.mark.helios_cassette takes "
            "keyword arguments only, got positional ('once',); valid arguments: record_mode, "
            "name, max_age_days, on_expiry, secret_headers, secret_keys, identifying_keys, "
            "contract_check, record_hosts, ignore_hosts, replay_webhooks",
        ),
        (
            '(replay_webhooks="no")',
            "E   pytest.UsageError: test_api.py::test_calls: 'no' is not a valid replay_webhooks "
            "of @pytest.mark.helios_cassette. Valid values: True, False.",
        ),
        (
            '(max_age_days="soon")',
            "E   pytest.UsageError: test_api.py::test_calls: 'soon' is not a valid max_age_days "
            "of @pytest.mark.helios_cassette. Valid values: a positive number of days.",
        ),
    ],
)
def test_a_bad_marker_errors_its_own_test_naming_the_problem_and_the_others_run(
    pytester: pytest.Pytester, server: FakeHelios, marker: str, message: str
) -> None:
    project(pytester, server, marker=marker)
    pytester.makepyfile(test_other="def test_other(): pass")

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*_ ERROR at setup of test_calls _*", "", message], consecutive=True
    )
    assert server.hits == []
    assert not (pytester.path / "cassettes").exists()
