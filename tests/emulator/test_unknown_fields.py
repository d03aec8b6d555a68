"""Unknown request fields and unknown ``patientContext`` keys: a setting of the emulator.

The Helios documentation gives the complete field tables of both requests and of
``patientContext`` but does not say what the API does with a field it does not list
(``behaviour:unknown-fields``). ``strict`` (the default) refuses it with a 400 naming it;
``lenient`` accepts and ignores it, and still checks every known field.
"""

from __future__ import annotations

import pytest

from pytest_helios.emulator import HeliosEmulator
from pytest_helios.emulator.cli import parser
from pytest_helios.emulator.request_checks import FieldProblem, schema_problems
from tests.samples import agent_request, lab_request


def test_by_default_an_unknown_request_field_is_refused_naming_it() -> None:
    assert schema_problems("agent-request", agent_request(priority="high")) == (
        [FieldProblem("", "unexpected properties: 'priority'")],
        False,
    )


def test_by_default_an_unknown_patient_context_key_is_refused_naming_it() -> None:
    body = lab_request(patientContext={"age": "58", "mood": "calm"})
    assert schema_problems("lab-results-request", body) == (
        [FieldProblem("patientContext", "unexpected properties: 'mood'")],
        False,
    )


def test_lenient_accepts_and_ignores_unknown_fields_and_patient_context_keys() -> None:
    agent = agent_request(priority="high")
    lab = lab_request(priority="high", patientContext={"age": "58", "mood": "calm"})
    assert schema_problems("agent-request", agent, unknown_fields="lenient") == ([], False)
    assert schema_problems("lab-results-request", lab, unknown_fields="lenient") == ([], False)


def test_lenient_still_checks_every_known_field() -> None:
    agent = agent_request(priority="high", agentType="ehr")
    lab = lab_request(patientContext={"age": 58, "mood": "calm"})
    assert schema_problems("agent-request", agent, unknown_fields="lenient") == (
        [FieldProblem("agentType", "expected one of 'light', 'deep'")],
        False,
    )
    assert schema_problems("lab-results-request", lab, unknown_fields="lenient") == (
        [FieldProblem("patientContext.age", "expected string, got integer")],
        False,
    )


def test_the_emulator_is_strict_unless_told_otherwise_and_refuses_another_mode() -> None:
    assert HeliosEmulator(serve=False).config.unknown_fields == "strict"
    assert HeliosEmulator(serve=False, unknown_fields="lenient").config.unknown_fields == (
        "lenient"
    )
    with pytest.raises(ValueError) as refused:
        HeliosEmulator(serve=False, unknown_fields="loose")
    assert str(refused.value) == "unknown_fields must be one of strict, lenient, got 'loose'"


def test_the_emulator_command_takes_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert parser().parse_args([]).unknown_fields == "strict"
    assert parser().parse_args(["--unknown-fields", "lenient"]).unknown_fields == "lenient"
    with pytest.raises(SystemExit):
        parser().parse_args(["--unknown-fields", "loose"])
    # argparse quotes the choices on some Python versions and not on others
    error = capsys.readouterr().err.replace("'strict'", "strict").replace("'lenient'", "lenient")
    assert "argument --unknown-fields: invalid choice: 'loose' (choose from strict, lenient)" in (
        error
    )
