"""The pseudonym salt is the project's secret: made on the first recording in a folder git
ignores (or taken from HELIOS_PSEUDONYM_SALT, as CI does), never written into a cassette or
printed; a replay with the recorder's salt matches, and the public default of earlier versions
no longer keys anything."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from pytest_helios.cassettes.salt import ProjectSalt, resolve
from pytest_helios.cassettes.scrub import pseudonym
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

TEST = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    def test_named():
        body = {**LAB_REQUEST, "patientContext": {"name": os.environ["PATIENT"], "age": "58"}}
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=body).status_code == 200
"""
CASSETTE = Path("cassettes/test_api/test_named.yaml")


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> str:
    name = "Name" + secrets.token_hex(4)
    monkeypatch.setenv("PATIENT", name)
    monkeypatch.delenv("HELIOS_PSEUDONYM_SALT", raising=False)
    return name


def _stored_name(root: Path) -> str:
    document = yaml.safe_load((root / CASSETTE).read_text())
    name: str = json.loads(document["interactions"][0]["request"]["body"])["patientContext"]["name"]
    return name


def test_the_first_recording_makes_a_secret_salt_that_git_ignores(
    pytester: pytest.Pytester, server: FakeHelios, patient: str
) -> None:
    write_project(pytester, server.url, TEST)

    recorded = pytester.runpytest("--helios-record-mode=once")

    recorded.assert_outcomes(passed=1)
    salt_file = pytester.path / ".helios" / "pseudonym-salt"
    salt = salt_file.read_text().splitlines()[-1]
    assert len(salt) == 64
    assert (pytester.path / ".helios" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert _stored_name(pytester.path) == pseudonym(patient, kind="id", salt=salt)
    assert _stored_name(pytester.path) != pseudonym(patient, kind="id", salt="pytest-helios")
    written = b"".join(p.read_bytes() for p in (pytester.path / "cassettes").rglob("*.yaml"))
    assert salt.encode() not in written
    assert patient.encode() not in written
    assert salt not in recorded.stdout.str() + recorded.stderr.str()
    server.close()
    pytester.runpytest().assert_outcomes(passed=1)
    assert salt_file.read_text().splitlines()[-1] == salt  # made once, then kept


def test_ci_replays_with_the_recorders_salt_from_the_environment(
    pytester: pytest.Pytester, server: FakeHelios, patient: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, server.url, TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    salt = (pytester.path / ".helios" / "pseudonym-salt").read_text().splitlines()[-1]
    shutil.rmtree(pytester.path / ".helios")  # a fresh clone: the salt is not in git
    server.close()
    monkeypatch.setenv("HELIOS_PSEUDONYM_SALT", salt)

    replayed = pytester.runpytest()

    replayed.assert_outcomes(passed=1)
    assert not (pytester.path / ".helios").exists()
    assert salt not in replayed.stdout.str()


def test_a_replay_without_the_salt_misses_and_writes_nothing(
    pytester: pytest.Pytester, server: FakeHelios, patient: str
) -> None:
    write_project(pytester, server.url, TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    shutil.rmtree(pytester.path / ".helios")
    server.close()

    replayed = pytester.runpytest()

    replayed.assert_outcomes(failed=1)
    replayed.stdout.fnmatch_lines(["*body $.patientContext.name: asked *, recorded *"])
    assert not (pytester.path / ".helios").exists()


def test_the_salt_from_the_environment_is_a_secret_no_cassette_holds(
    pytester: pytest.Pytester, server: FakeHelios, patient: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    salt = secrets.token_hex(32)
    monkeypatch.setenv("HELIOS_PSEUDONYM_SALT", salt)
    monkeypatch.setenv("PATIENT", f"{patient} {salt}")
    write_project(pytester, server.url, TEST)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    assert salt.encode() not in (pytester.path / CASSETTE).read_bytes()
    assert not (pytester.path / ".helios").exists()


def test_a_project_salt_never_shows_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELIOS_PSEUDONYM_SALT", raising=False)
    salt = ProjectSalt(tmp_path)

    secret = resolve(salt)

    assert secret not in str(salt) + repr(salt)
    assert resolve(ProjectSalt(tmp_path)) == secret
    assert ProjectSalt(tmp_path) != ProjectSalt(tmp_path / "other")
