"""What a contract violation shows of the offending value: never a patient value, never a key.

A field the schemas mark ``x-helios-identifying`` (and anything inside one) is shown by its type
and shape, a key-shaped string as ``[REDACTED]``; everything else as before, cut short. The same
holds where a violation's text is printed: the cassette linter's line and a replay's failure,
which also hide what the scrubber's rules call an identifier or a secret.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

import pytest
import yaml

from pytest_helios import ContractViolation, validate
from pytest_helios.cassettes.persister import dump, provenance
from tests.cassettes.helpers import (
    FakeHelios,
    record_one_call,
    server_fixture,  # noqa: F401  # the `server` fixture
)
from tests.samples import LAB, lab_request

KEY = "sk_live_" + "0" * 28 + "a1b2"


def violation_of(schema: str, payload: Any, **options: Any) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        validate(schema, payload, **options)
    return caught.value


def test_an_identifying_field_is_shown_by_its_type_and_shape() -> None:
    payload = lab_request(patientContext={"name": ["Jane", "Roe"], "clinicalNotes": 42})
    violation = violation_of("lab-results-request", payload)
    assert [v.describe() for v in violation.violations] == [
        "at $.patientContext.name: keyword 'type': expected string, got array; "
        "value: <array, 2 items>",
        "at $.patientContext.clinicalNotes: keyword 'type': expected string, got integer; "
        "value: <integer>",
    ]


def test_a_violation_around_an_identifying_field_shows_it_by_shape_among_the_rest() -> None:
    payload = lab_request(patientContext={"clinicalNotes": "Patient has HIV", "age": "58"})
    del payload["webhookUrl"]
    violation = violation_of("lab-results-request", payload)
    assert str(violation) == (
        "schema 'lab-results-request' violated at $: keyword 'required': missing required "
        "property 'webhookUrl'; value: {'labResults': [{'name': 'Creatinine', 'value': '1.8 "
        "mg/dL', 'flag': 'High', ..."
    )
    moved = {"patientContext": payload.pop("patientContext"), **payload}
    violation = violation_of("lab-results-request", moved)
    assert violation.value == (
        "{'patientContext': {'clinicalNotes': <string, 15 characters>, 'age': '58'}, '..."
    )


def test_a_lab_note_inside_a_webhook_result_is_shown_by_shape() -> None:
    from pytest_helios.payloads import lab_results_completed

    run_id = "550e8400-e29b-41d4-a716-446655440000"
    completed = lab_results_completed(run_id, [LAB], timestamp="2025-01-15T10:00:00Z")
    payload = copy.deepcopy(completed)
    payload["result"]["labResults"][0]["notes"] = ["Patient has HIV"]
    violation = violation_of("webhook", payload)
    assert "Patient has HIV" not in str(violation)
    assert violation.value == "<array, 1 item>"


def test_a_key_shaped_string_is_redacted_wherever_it_stands() -> None:
    accepted = {"runId": KEY, "status": "accepted", "message": f"key {KEY} accepted"}
    violation = violation_of("accepted-response", accepted)
    assert str(violation) == (
        "schema 'accepted-response' violated at $.runId: keyword 'format': not a valid uuid; "
        "value: '[REDACTED]'"
    )
    refusal = {"error": "Unauthorized", "message": f"Invalid API key {KEY}"}
    assert violation_of("unauthorized-error", refusal).value == "'Invalid API key [REDACTED]'"


def test_sensitive_names_more_fields_to_hide() -> None:
    def sensitive(path: tuple[str, ...]) -> str | None:
        return {"gender": "identifying", "age": "secret"}.get(path[-1] if path else "")

    payload = lab_request(patientContext={"age": 58, "gender": 1})
    violation = violation_of("lab-results-request", payload, sensitive=sensitive)
    assert [(v.path, v.value) for v in violation.violations] == [
        ("$.patientContext.age", "'[REDACTED]'"),
        ("$.patientContext.gender", "<integer>"),
    ]


# --- where violations are printed -------------------------------------------------------------


ACCEPTED = {"runId": "550e8400-e29b-41d4-a716-446655440000", "status": "accepted"}


def accepted(path: str, request_body: dict[str, Any]) -> dict[str, Any]:
    """A cassette interaction: ``request_body`` sent to ``path``, and Helios accepting it."""
    return {
        "request": {
            "method": "POST",
            "uri": f"https://api.heliosai.health{path}",
            "headers": {"content-type": ["application/json"]},
            "body": json.dumps(request_body),
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": ["application/json"]},
            "body": {"string": json.dumps(ACCEPTED)},
        },
    }


def test_the_linter_line_of_a_violation_shows_no_value_it_flags(pytester: pytest.Pytester) -> None:
    """The schema marks clinicalNotes identifying; the scrubber's rules, patientInfo.name."""
    tag = secrets.token_hex(4)
    notes, name = f"Patient has HIV {tag}", f"Jane Roe{tag}"
    interactions = [
        accepted(
            "/api/v1/lab-results", {"patientContext": {"clinicalNotes": notes}, "labResults": []}
        ),
        accepted("/api/v1/agent", {"data": {"patientInfo": {"name": name}}}),
    ]
    path = pytester.path / "cassettes" / "test_api" / "test_calls.yaml"
    path.parent.mkdir(parents=True)
    path.write_bytes(dump({"helios": provenance("emulator"), "interactions": interactions}))

    result = pytester.runpytest("--helios-lint-cassettes")

    assert result.ret == 1
    output = result.stdout.str() + result.stderr.str()
    assert notes not in output
    assert name not in output
    result.stdout.fnmatch_lines_random(
        [
            "cassettes/test_api/test_calls.yaml: interaction 0, request (lab-results-request): "
            "schema 'lab-results-request' violated at $: keyword 'required': missing required "
            "property 'webhookUrl'; value: {'patientContext': {'clinicalNotes': <string, "
            f"{len(notes)} characters>}}, 'labResults': []}}",
            "cassettes/test_api/test_calls.yaml: interaction 1, request (agent-request): "
            "schema 'agent-request' violated at $: keyword 'required': missing required "
            "property 'webhookUrl'; value: {'data': {'patientInfo': "
            f"{{'name': <string, {len(name)} characters>}}}}}}",
        ]
    )


def test_a_replay_contract_failure_shows_no_key_from_the_cassette(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    recorded = record_one_call(pytester, server.url)
    document = yaml.safe_load(recorded.read_text(encoding="utf-8"))
    key = server.api_key
    response = document["interactions"][0]["response"]
    response["status"] = {"code": 401, "message": "Unauthorized"}
    response["body"]["string"] = json.dumps(
        {"error": "Unauthorized", "message": f"Invalid API key {key}"}
    )
    recorded.write_bytes(dump(document))

    result = pytester.runpytest("--tb=long", "-l", "-vv")

    result.assert_outcomes(errors=1)
    assert key not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "*helios: cassette cassettes/test_api/test_calls.yaml breaks the contract in schemas/:",
            "*  interaction 0, response (unauthorized-error): schema 'unauthorized-error' "
            "violated at $.message: keyword 'enum': expected one of 'Missing x-api-key header', "
            "'Invalid API key', 'API key has been revoked', 'API key belongs to a different "
            "account'; value: 'Invalid API key [[]REDACTED[]]'",
        ]
    )
