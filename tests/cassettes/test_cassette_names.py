"""Cassette file names never carry an identifier: a parametrize id that is not plainly safe
(a number, a lowercase word such as pytest's own ``0`` or ``light``) becomes a short stable
digest; a name given with ``helios_cassette(name=...)`` is the user's choice and kept."""

from __future__ import annotations

import re

import pytest

from pytest_helios.cassettes.config import default_cassette_name
from pytest_helios.cassettes.salt import ProjectSalt
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

PATIENTS_TEST = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    @pytest.mark.parametrize("patient", ["Jane Roe", "Marisol Okonkwo-Baptiste", "1962-03-14"])
    def test_labs_for_patient(patient):
        payload = {**LAB_REQUEST, "patientContext": {"name": patient}}
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=payload).status_code == 200
"""


def test_a_test_parametrized_with_patient_names_records_files_that_name_no_patient(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, PATIENTS_TEST)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=3)

    names = sorted(p.name for p in (pytester.path / "cassettes" / "test_api").iterdir())
    assert len(names) == 3
    for name in names:
        assert re.fullmatch(r"test_labs_for_patient\[id-[0-9a-f]{12}\]\.yaml", name), name
    for part in ("Jane", "Roe", "Marisol", "Okonkwo", "Baptiste", "1962", "03-14"):
        assert not [name for name in names if part.lower() in name.lower()]
    jane = "test_api.py::test_labs_for_patient[Jane Roe]"
    project_salt = ProjectSalt(pytester.path, recording=False)  # the secret one, made just now
    assert f"{default_cassette_name(jane, '', salt=project_salt)}.yaml" in names
    server.close()
    pytester.runpytest().assert_outcomes(passed=3)  # each test finds its own file again


@pytest.mark.parametrize(
    "test_id",
    ["0", "17", "1.5", "light", "agent_type0", "light-0", "json-array-body", "True", "None"],
)
def test_a_plainly_safe_parametrize_id_is_kept_in_the_cassette_name(test_id: str) -> None:
    name = default_cassette_name(f"test_api.py::test_it[{test_id}]", "", salt="s")

    assert name == f"test_it[{test_id}]"


@pytest.mark.parametrize(
    "test_id",
    ["Jane Roe", "jane roe", "High", "MRN-0042", "12345678", "555-0100", "2025-01-15", "-1", ""],
)
def test_any_other_parametrize_id_becomes_a_stable_digest(test_id: str) -> None:
    name = default_cassette_name(f"test_api.py::TestX::test_it[{test_id}]", "", salt="s")

    assert re.fullmatch(r"TestX\.test_it\[id-[0-9a-f]{12}\]", name)
    assert name == default_cassette_name(f"test_api.py::TestX::test_it[{test_id}]", "", salt="s")
    assert name != default_cassette_name(f"test_api.py::TestX::test_it[{test_id}]", "", salt="t")
    shown = default_cassette_name(f"test_api.py::TestX::test_it[{test_id}]", "", salt=None)
    assert shown == "TestX.test_it[id-...]"  # in a message, where no salt is read


def test_a_name_given_to_the_marker_is_kept_as_it_is(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = PATIENTS_TEST.replace(
        "@pytest.mark.helios_cassette\n", '@pytest.mark.helios_cassette(name="Chosen Name")\n'
    ).replace('"Marisol Okonkwo-Baptiste", "1962-03-14"', "")
    write_project(pytester, server.url, tests)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    assert (pytester.path / "cassettes" / "test_api" / "Chosen Name.yaml").is_file()
