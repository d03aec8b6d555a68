"""Cassettes carry provenance, are contract-checked on replay, can expire, and a malformed or
foreign cassette fails with the file and the problem."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from collections.abc import Iterator

import pytest
import yaml

import pytest_helios
from pytest_helios import HeliosEmulator
from pytest_helios.cassettes.persister import schemas_fingerprint
from pytest_helios.facts import BASE_URL
from tests.cassettes.helpers import (
    ONE_CALL_CASSETTE,
    FakeHelios,
    record_one_call,
    server_fixture,  # noqa: F401  # the `server` fixture
)

CASSETTE = ONE_CALL_CASSETTE


@pytest.fixture
def recorded(pytester: pytest.Pytester, server: FakeHelios) -> FakeHelios:
    record_one_call(pytester, server.url)
    server.close()
    return server


def edit_cassette(pytester: pytest.Pytester, old: str, new: str) -> None:
    path = pytester.path / CASSETTE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_cassette_says_when_against_what_and_under_which_versions_it_was_recorded(
    pytester: pytest.Pytester, recorded: FakeHelios
) -> None:
    meta = yaml.safe_load((pytester.path / CASSETTE).read_text())["helios"]

    recorded_at = dt.datetime.strptime(meta["recorded_at"], "%Y-%m-%dT%H:%M:%SZ")
    age = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - recorded_at
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=5)
    assert meta["format"] == 1
    assert meta["target"] == "emulator"
    assert meta["plugin_version"] == pytest_helios.__version__
    assert meta["schemas"] == schemas_fingerprint()
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", meta["schemas"])


def test_an_expired_cassette_warns_by_default(
    pytester: pytest.Pytester, recorded: FakeHelios
) -> None:
    meta = yaml.safe_load((pytester.path / CASSETTE).read_text())["helios"]
    edit_cassette(pytester, meta["recorded_at"], "2020-01-31T12:00:00Z")

    # "-W default": the outer suite turns warnings into errors, and in-process runs inherit it
    result = pytester.runpytest("--helios-cassette-max-age=30", "-W", "default")

    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*CassetteExpiredWarning: helios: cassette cassettes/test_api/test_calls.yaml was "
            "recorded * days ago (2020-01-31T12:00:00Z), more than its maximum age of 30 days",
            "*re-record it: pytest test_api.py::test_calls --helios-record-mode=rewrite",
        ]
    )


def test_an_expired_cassette_fails_when_the_ini_value_says_so(
    pytester: pytest.Pytester, recorded: FakeHelios
) -> None:
    meta = yaml.safe_load((pytester.path / CASSETTE).read_text())["helios"]
    edit_cassette(pytester, meta["recorded_at"], "2020-01-31T12:00:00Z")
    pytester.makeini("[pytest]\nhelios_cassette_max_age = 90\nhelios_cassette_on_expiry = fail\n")

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*more than its maximum age of 90 days"])


def test_a_replayed_response_that_breaks_the_contract_fails(
    pytester: pytest.Pytester, recorded: FakeHelios
) -> None:
    edit_cassette(pytester, '"status": "accepted"', '"status": "queued"')

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*helios: cassette cassettes/test_api/test_calls.yaml breaks the contract in schemas/:",
            "*  interaction 0, response (accepted-response): *status*",
            "*  re-record it: pytest test_api.py::test_calls --helios-record-mode=rewrite",
        ]
    )


def test_the_contract_check_can_be_switched_off_for_one_test(
    pytester: pytest.Pytester, recorded: FakeHelios
) -> None:
    edit_cassette(pytester, '"status": "accepted"', '"status": "queued"')
    test = pytester.path / "test_api.py"
    test.write_text(
        test.read_text().replace(
            "@pytest.mark.helios_cassette", "@pytest.mark.helios_cassette(contract_check=False)"
        )
    )

    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("helios: [unclosed\n", "invalid YAML: line 2: *"),
        (
            "version: 1\ninteractions: []\n",
            "not a pytest-helios cassette (no 'helios' provenance section); "
            "re-record it with pytest-helios",
        ),
        (
            "helios: {format: 7, recorded_at: '2026-01-01T00:00:00Z'}\ninteractions: []\n",
            "unsupported cassette format 7 (this version reads 1)",
        ),
        (
            "helios: {format: 1, recorded_at: '2026-01-01T00:00:00Z'}\n"
            "interactions:\n- request: {method: GET, uri: /x}\n  response: {status: {code: ok}}\n",
            "interaction 0 response needs 'status: {code: <int>}'",
        ),
    ],
)
def test_a_malformed_or_foreign_cassette_names_the_file_and_the_problem(
    pytester: pytest.Pytester, recorded: FakeHelios, content: str, problem: str
) -> None:
    (pytester.path / CASSETTE).write_text(content)

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*helios: cannot use cassette {CASSETTE}: {problem}"])


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeliosEmulator]:
    """An emulator playing the live API at --helios-base-url (the real API is never called
    from the tests), its account's key and secret exported as users would."""
    monkeypatch.delenv("HELIOS_BASE_URL", raising=False)
    with HeliosEmulator() as emulator:
        account = emulator.create_account("live stand-in")
        monkeypatch.setenv("HELIOS_API_KEY", account.create_key("ci").value)
        monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", account.webhook_secret)
        yield emulator


LIVE_TEST = """
    import pytest

    @pytest.mark.helios_cassette
    def test_submit(helios_client):
        run = helios_client.submit_lab_results(
            lab_results=[{"name": "eGFR", "value": "38 mL/min/1.73m2", "flag": "Low"}],
            webhook_url="http://127.0.0.1:9/hook",
        )
        assert run.status == "accepted"
"""


def test_a_recording_against_a_live_base_url_is_stored_under_the_canonical_host_as_live(
    pytester: pytest.Pytester, stand_in: HeliosEmulator
) -> None:
    pytester.makepyfile(test_api=textwrap.dedent(LIVE_TEST))
    live = ("--helios-live", f"--helios-base-url={stand_in.url}")

    pytester.runpytest(*live, "--helios-record-mode=once").assert_outcomes(passed=1)

    text = (pytester.path / "cassettes" / "test_api" / "test_submit.yaml").read_text()
    document = yaml.safe_load(text)
    assert document["helios"]["target"] == "live"
    assert document["interactions"][0]["request"]["uri"] == f"{BASE_URL}/api/v1/lab-results"
    assert stand_in.url.split("//")[1] not in text
    assert len(stand_in.runs) == 1
    stand_in.stop()
    pytester.runpytest(*live).assert_outcomes(passed=1)  # replays, the live API gone
    pytester.runpytest().assert_outcomes(passed=1)  # and against the emulator
