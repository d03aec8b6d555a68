"""The JSON Schemas encode the documented Helios contract, and `validate` explains violations.

The example payloads below are copied verbatim from the Helios documentation (the source key of
each is named); the "…" strings are the documentation's own elisions.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_helios import SCHEMA_NAMES, ContractViolation, validate
from pytest_helios.payloads.validation import load_schema, schema_directory

RUN_ID = "550e8400-e29b-41d4-a716-446655440000"

# [S:post-agent] [S:ehr] [S:quickstart]
AGENT_REQUEST: dict[str, Any] = {
    "webhookUrl": "https://your-server.com/webhook/helios",
    "agentType": "light",
    "data": {
        "patientInfo": {"age": 45, "gender": "male"},
        "recentAbnormalLabs": [
            {
                "date": "2025-01-15",
                "display": "Hemoglobin A1c",
                "value": "7.2",
                "unit": "%",
                "referenceRange": "4.0-5.6",
                "interpretation": "High",
            }
        ],
        "recentNormalLabs": [
            {
                "date": "2025-01-15",
                "display": "Sodium",
                "value": "140",
                "unit": "mEq/L",
                "referenceRange": "136-145",
            }
        ],
        "pastMedicalHistory": [
            {
                "display": "Type 2 Diabetes Mellitus",
                "clinicalStatus": "active",
                "onsetDate": "2020-03-15",
            }
        ],
        "medications": [
            {
                "medication": "Metformin 500mg",
                "status": "active",
                "dosage": "500mg",
                "frequency": "twice daily",
            }
        ],
        "vitalSigns": [
            {"display": "Blood Pressure", "value": "138/88", "unit": "mmHg", "date": "2025-01-15"}
        ],
    },
}

# [S:lab]
LAB_RESULTS_REQUEST: dict[str, Any] = {
    "webhookUrl": "https://your-server.com/webhook/helios",
    "labResults": [
        {
            "name": "Creatinine",
            "value": "1.8 mg/dL",
            "flag": "High",
            "referenceRange": "0.7-1.3 mg/dL",
            "date": "2025-01-15",
            "category": "Renal",
        },
        {
            "name": "eGFR",
            "value": "38 mL/min/1.73m2",
            "flag": "Low",
            "referenceRange": ">60 mL/min/1.73m2",
            "date": "2025-01-15",
            "category": "Renal",
        },
    ],
    "patientContext": {
        "age": "58",
        "gender": "male",
        "conditions": [{"name": "Type 2 Diabetes Mellitus", "status": "active"}],
        "medications": [{"name": "Metformin", "dosage": "1000mg", "frequency": "twice daily"}],
    },
}

# [S:post-lab]: the minimal OpenAPI example (the guide requires webhookUrl, see schemas/README.md)
MINIMAL_LAB_RESULTS_REQUEST: dict[str, Any] = {
    "webhookUrl": "https://your-server.com/webhook/helios",
    "labResults": [
        {
            "name": "Hemoglobin A1c",
            "value": "7.2%",
            "flag": "High",
            "referenceRange": "4.0-5.6%",
            "date": "2025-01-15",
        }
    ],
}

# [S:post-agent] [S:post-lab] [S:intro]
ACCEPTED: dict[str, Any] = {
    "runId": RUN_ID,
    "status": "accepted",
    "message": "Request accepted. Results will be delivered to your webhook.",
}

# [S:rate]
RATE_LIMITED: dict[str, Any] = {
    "error": "Too many concurrent requests",
    "message": "You have 7 active light agent requests. Maximum is 7.",
    "activeCount": 7,
    "limit": 7,
}

# [S:webhooks] [S:ehr-wh]
LIGHT_COMPLETED: dict[str, Any] = {
    "runId": RUN_ID,
    "status": "completed",
    "agent": "light",
    "timestamp": "2025-01-15T12:01:30.000Z",
    "sequenceNumber": 7,
    "result": {
        "selectedElements": [
            {
                "item": "Hemoglobin A1c",
                "category": "Laboratory Value",
                "patient_value": "7.2%",
                "matching_reason": "Elevated HbA1c indicates suboptimal glycemic control",
            }
        ],
        "patientResponse": "Your recent lab results show...",
        "clinicianResponse": "The patient presents with...",
        "citations": {
            "patient": {
                "1": {
                    "url": "https://pubmed.ncbi.nlm.nih.gov/12345678/",
                    "title": "…",
                    "metadata": {"type": "pubmed"},
                },
                "2": {
                    "url": "https://doi.org/10.2337/dc24-S006",
                    "title": "…",
                    "metadata": {
                        "type": "guideline",
                        "source": "ADA",
                        "author": "American Diabetes Association",
                        "doi": "10.2337/dc24-S006",
                        "pubdate": "2024-01-01",
                        "abstract_snippet": "…",
                        "specialties": ["Endocrinology"],
                    },
                },
            },
            "clinician": {
                "1": {
                    "url": "https://pubmed.ncbi.nlm.nih.gov/87654321/",
                    "title": "ADA Standards of Care 2025",
                    "metadata": {"type": "pubmed"},
                }
            },
        },
    },
}

# [S:webhooks] [S:resp] [S:ehr]: "the same shape with agent deep, plus result.researchTasks"
DEEP_COMPLETED: dict[str, Any] = copy.deepcopy(LIGHT_COMPLETED)
DEEP_COMPLETED["agent"] = "deep"
DEEP_COMPLETED["result"]["researchTasks"] = [
    "Research current ADA guidelines for glycemic control in Type 2 Diabetes"
]

# [S:lab-wh] [S:webhooks] [S:resp]
LAB_RESULTS_COMPLETED: dict[str, Any] = {
    "runId": RUN_ID,
    "status": "completed",
    "agent": "lab-results",
    "timestamp": "2025-01-19T12:05:00.000Z",
    "sequenceNumber": 8,
    "result": {
        "labResults": [
            {
                "name": "Creatinine",
                "value": "1.8",
                "unit": "mg/dL",
                "flag": "High",
                "referenceRange": "0.7-1.3 mg/dL",
                "date": "2025-01-15",
                "category": "Renal",
            }
        ],
        "patientResponse": "…",
        "clinicianResponse": "…",
        "citations": {
            "patient": {"1": {"url": "…", "title": "…", "metadata": {"type": "pubmed"}}},
            "clinician": {"1": {"url": "…", "title": "…", "metadata": {"type": "pubmed"}}},
        },
        "metadata": {"labsReceived": 15, "labsAnalyzed": 15, "insightsMatched": 8},
    },
}

# The assumed shapes (common decisions, listed in schemas/README.md)
VALIDATION_ERROR: dict[str, Any] = {
    "error": "Validation Error",
    "message": "labResults: must contain at least 1 item",
    "details": [{"field": "labResults", "message": "must contain at least 1 item"}],
}
UNAUTHORIZED: dict[str, Any] = {"error": "Unauthorized", "message": "Missing x-api-key header"}
STATUS_UPDATE: dict[str, Any] = {
    "runId": RUN_ID,
    "status": "processing",
    "agent": "light",
    "timestamp": "2025-01-15T12:00:05.000Z",
    "sequenceNumber": 2,
    "step": 2,
    "totalSteps": 8,
    "stepName": "Analyzing health data",
}
ERROR_WEBHOOK: dict[str, Any] = {
    "runId": RUN_ID,
    "status": "error",
    "agent": "deep",
    "timestamp": "2025-01-15T12:03:00.000Z",
    "sequenceNumber": 5,
    "error": {"message": "Processing failed", "code": "processing_failed"},
}

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("agent-request", AGENT_REQUEST),
    ("lab-results-request", LAB_RESULTS_REQUEST),
    ("lab-results-request", MINIMAL_LAB_RESULTS_REQUEST),
    ("accepted-response", ACCEPTED),
    ("rate-limit-error", RATE_LIMITED),
    ("validation-error", VALIDATION_ERROR),
    ("unauthorized-error", UNAUTHORIZED),
    ("webhook-ehr-completed", LIGHT_COMPLETED),
    ("webhook-ehr-completed", DEEP_COMPLETED),
    ("webhook-lab-results-completed", LAB_RESULTS_COMPLETED),
    ("webhook-status-update", STATUS_UPDATE),
    ("webhook-error", ERROR_WEBHOOK),
    ("webhook", LIGHT_COMPLETED),
    ("webhook", DEEP_COMPLETED),
    ("webhook", LAB_RESULTS_COMPLETED),
    ("webhook", STATUS_UPDATE),
    ("webhook", ERROR_WEBHOOK),
]


def _with(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of payload with the dotted path (list indexes as numbers) set to value;
    the value ``DELETE`` removes the key instead."""
    changed = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


DELETE = object()


@pytest.mark.parametrize(("schema_name", "payload"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_documented_example_validates_against_its_schema(
    schema_name: str, payload: dict[str, Any]
) -> None:
    validate(schema_name, payload)


# (schema, payload, change path, new value, expected JSON path, expected keyword)
INVALID: list[tuple[str, dict[str, Any], str, Any, str, str]] = [
    ("agent-request", AGENT_REQUEST, "agentType", DELETE, "$", "required"),
    ("agent-request", AGENT_REQUEST, "agentType", "medium", "$.agentType", "enum"),
    (
        "agent-request",
        AGENT_REQUEST,
        "data.patientInfo.age",
        "45",
        "$.data.patientInfo.age",
        "type",
    ),
    ("agent-request", AGENT_REQUEST, "webhookUrl", "not a url", "$.webhookUrl", "format"),
    ("agent-request", AGENT_REQUEST, "data", {}, "$.data", "minProperties"),
    ("agent-request", AGENT_REQUEST, "agent_type", "light", "$", "additionalProperties"),
    (
        "agent-request",
        AGENT_REQUEST,
        "data.pastMedicalHistory.0.onsetDate",
        "15/03/2020",
        "$.data.pastMedicalHistory[0].onsetDate",
        "format",
    ),
    ("lab-results-request", LAB_RESULTS_REQUEST, "labResults", [], "$.labResults", "minItems"),
    ("lab-results-request", LAB_RESULTS_REQUEST, "webhookUrl", DELETE, "$", "required"),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "labResults.1.name",
        DELETE,
        "$.labResults[1]",
        "required",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "labResults.0.value",
        1.8,
        "$.labResults[0].value",
        "type",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "labResults.0.flag",
        "Elevated",
        "$.labResults[0].flag",
        "enum",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "labResults.0.date",
        "January 15",
        "$.labResults[0].date",
        "anyOf",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "patientContext.age",
        58,
        "$.patientContext.age",
        "type",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "patientContext.allergies",
        ["penicillin"] * 21,
        "$.patientContext.allergies",
        "maxItems",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "patientContext.medications",
        [{"name": "Metformin"}] * 31,
        "$.patientContext.medications",
        "maxItems",
    ),
    (
        "lab-results-request",
        LAB_RESULTS_REQUEST,
        "patientContext.conditions",
        [{"name": "Hypertension"}] * 101,
        "$.patientContext.conditions",
        "maxItems",
    ),
    ("accepted-response", ACCEPTED, "runId", "run-1", "$.runId", "format"),
    ("accepted-response", ACCEPTED, "status", "queued", "$.status", "enum"),
    ("rate-limit-error", RATE_LIMITED, "activeCount", "7", "$.activeCount", "type"),
    ("unauthorized-error", UNAUTHORIZED, "message", "Forbidden", "$.message", "enum"),
    ("validation-error", VALIDATION_ERROR, "details.0.field", DELETE, "$.details[0]", "required"),
    ("webhook-ehr-completed", LIGHT_COMPLETED, "runId", "not-a-uuid", "$.runId", "format"),
    ("webhook-ehr-completed", LIGHT_COMPLETED, "agent", "ehr", "$.agent", "enum"),
    ("webhook-ehr-completed", LIGHT_COMPLETED, "sequenceNumber", 7.5, "$.sequenceNumber", "type"),
    (
        "webhook-ehr-completed",
        LIGHT_COMPLETED,
        "timestamp",
        "2025-01-15 noon",
        "$.timestamp",
        "format",
    ),
    (
        "webhook-ehr-completed",
        LIGHT_COMPLETED,
        "result.selectedElements.0.patient_value",
        DELETE,
        "$.result.selectedElements[0]",
        "required",
    ),
    (
        "webhook-ehr-completed",
        LIGHT_COMPLETED,
        "result.researchTasks",
        ["a task"],
        "$.result.researchTasks",
        "falseSchema",
    ),
    (
        "webhook-ehr-completed",
        DEEP_COMPLETED,
        "result.researchTasks",
        DELETE,
        "$.result",
        "required",
    ),
    (
        "webhook-ehr-completed",
        LIGHT_COMPLETED,
        "result.citations.patient.first",
        {"url": "https://x.test/", "title": "t", "metadata": {"type": "pubmed"}},
        "$.result.citations.patient",
        "propertyNames",
    ),
    (
        "webhook-lab-results-completed",
        LAB_RESULTS_COMPLETED,
        "result.metadata.labsAnalyzed",
        201,
        "$.result.metadata.labsAnalyzed",
        "maximum",
    ),
    (
        "webhook-lab-results-completed",
        LAB_RESULTS_COMPLETED,
        "result.citations.clinician.0",
        {"url": "…", "title": "…", "metadata": {"type": "pubmed"}},
        "$.result.citations.clinician",
        "propertyNames",
    ),
    ("webhook-status-update", STATUS_UPDATE, "stepName", DELETE, "$", "required"),
    ("webhook-status-update", STATUS_UPDATE, "status", "running", "$.status", "const"),
    ("webhook-error", ERROR_WEBHOOK, "error.message", DELETE, "$.error", "required"),
    ("webhook", LAB_RESULTS_COMPLETED, "result.labResults.0.value", 1.8, "", "type"),
    ("webhook", LIGHT_COMPLETED, "status", "done", "$.status", "enum"),
    ("webhook", STATUS_UPDATE, "step", 0, "$.step", "minimum"),
    ("webhook", ERROR_WEBHOOK, "error", "boom", "$.error", "type"),
]


@pytest.mark.parametrize(
    ("schema_name", "payload", "change", "value", "path", "keyword"),
    INVALID,
    ids=[f"{case[0]}:{case[2]}:{case[5]}" for case in INVALID],
)
def test_a_targeted_invalid_variant_fails_with_the_right_path_and_keyword(
    schema_name: str,
    payload: dict[str, Any],
    change: str,
    value: Any,
    path: str,
    keyword: str,
) -> None:
    invalid = _with(payload, change, value)
    with pytest.raises(ContractViolation) as caught:
        validate(schema_name, invalid)
    expected_path = path or "$." + re.sub(r"\.(\d+)", r"[\1]", change)
    assert (caught.value.schema, caught.value.path, caught.value.keyword) == (
        schema_name,
        expected_path,
        keyword,
    )


def test_a_bad_lab_results_webhook_reports_the_lab_results_path_not_a_dispatch_failure() -> None:
    payload = _with(LAB_RESULTS_COMPLETED, "result.labResults.0.value", 1.8)
    with pytest.raises(ContractViolation) as caught:
        validate("webhook", payload)
    assert str(caught.value) == (
        "schema 'webhook' violated at $.result.labResults[0].value: keyword 'type': "
        "expected string, got number; value: 1.8"
    )


def test_a_completed_webhook_without_agent_is_dispatched_on_the_shape_of_its_result() -> None:
    lab = _with(LAB_RESULTS_COMPLETED, "agent", DELETE)
    light = _with(LIGHT_COMPLETED, "agent", DELETE)
    validate("webhook", lab)
    validate("webhook", light)
    with pytest.raises(ContractViolation) as caught:
        validate("webhook", _with(lab, "result.metadata", DELETE))
    assert (caught.value.path, caught.value.keyword) == ("$.result", "required")


def test_a_citation_key_that_is_not_a_numeric_string_is_named_in_the_message() -> None:
    payload = _with(
        LIGHT_COMPLETED,
        "result.citations.patient.first",
        {"url": "https://x.test/", "title": "t", "metadata": {"type": "pubmed"}},
    )
    with pytest.raises(ContractViolation) as caught:
        validate("webhook-ehr-completed", payload)
    assert str(caught.value) == (
        "schema 'webhook-ehr-completed' violated at $.result.citations.patient: "
        "keyword 'propertyNames': property name 'first' does not match '^[1-9][0-9]*$'; "
        "value: 'first'"
    )


def test_a_violation_message_lists_every_error_with_the_first_one_in_the_headline() -> None:
    payload = _with(_with(ACCEPTED, "runId", "run-1"), "status", "queued")
    with pytest.raises(ContractViolation) as caught:
        validate("accepted-response", payload)
    assert str(caught.value) == (
        "schema 'accepted-response' violated at $.runId: keyword 'format': "
        "not a valid uuid; value: 'run-1'\n"
        "1 more violation:\n"
        "  - at $.status: keyword 'enum': expected one of 'accepted'; value: 'queued'"
    )
    assert [v.path for v in caught.value.violations] == ["$.runId", "$.status"]
    assert caught.value.violations[0].schema_path == "/properties/runId/$ref/format"
    assert caught.value.violations[0].schema_location == "definitions.json#/$defs/runId/format"


def test_a_contract_violation_survives_pickling_with_all_its_parts() -> None:
    import pickle

    with pytest.raises(ContractViolation) as caught:
        validate("accepted-response", _with(ACCEPTED, "runId", "run-1"))
    copy_ = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy_), copy_.violations) == (str(caught.value), caught.value.violations)


def test_the_offending_value_is_cut_short_and_the_body_is_never_printed_whole() -> None:
    notes = "patient reports " + "x" * 5000
    payload = _with(LAB_RESULTS_REQUEST, "labResults.0.notes", 12345)
    payload = _with(payload, "patientContext.clinicalNotes", notes)
    payload = _with(payload, "labResults.0.value", ["not", "a", "string"] * 100)
    with pytest.raises(ContractViolation) as caught:
        validate("lab-results-request", payload)
    message = str(caught.value)
    assert "x" * 100 not in message
    long_value = caught.value.violations[0].value
    assert caught.value.violations[0].path == "$.labResults[0].value"
    assert len(long_value) == 80
    assert long_value.startswith("['not', 'a', 'string', 'not', ")
    assert long_value.endswith("...")
    assert len(message) < 600


def test_a_violation_at_the_root_names_the_missing_property_and_shortens_the_body() -> None:
    payload = _with(LAB_RESULTS_REQUEST, "labResults", DELETE)
    with pytest.raises(ContractViolation) as caught:
        validate("lab-results-request", payload)
    violation = caught.value.violations[0]
    assert violation.path == "$"
    assert violation.message == "missing required property 'labResults'"
    assert len(violation.value) == 80


def test_a_key_that_is_not_an_identifier_is_quoted_in_the_json_path() -> None:
    payload = _with(LIGHT_COMPLETED, "result.citations.patient.1.title", 7)
    with pytest.raises(ContractViolation) as caught:
        validate("webhook-ehr-completed", payload)
    assert caught.value.path == "$.result.citations.patient['1'].title"


def test_a_value_that_json_cannot_carry_is_a_contract_violation_not_a_crash() -> None:
    payload = _with(ACCEPTED, "runId", {RUN_ID})
    with pytest.raises(ContractViolation) as caught:
        validate("accepted-response", payload)
    assert caught.value.keyword == "json"
    assert caught.value.path == "$"
    assert str(caught.value).startswith(
        "schema 'accepted-response' violated at $: keyword 'json': not a JSON value ("
    )


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_nan_or_infinity_is_named_as_such_not_as_null(number: float) -> None:
    payload = copy.deepcopy(LAB_RESULTS_REQUEST)
    payload["labResults"][0]["value"] = number
    with pytest.raises(ContractViolation) as caught:
        validate("lab-results-request", payload)
    assert str(caught.value) == (
        "schema 'lab-results-request' violated at $.labResults[0].value: keyword 'type': "
        f"{number!r} is not a JSON number (JSON has no NaN or Infinity); value: {number!r}"
    )


def test_an_unknown_schema_name_is_refused_with_the_list_of_valid_names() -> None:
    with pytest.raises(ValueError) as caught:
        validate("webhook-completed", {})
    assert str(caught.value) == (
        "unknown schema name 'webhook-completed'. Valid schema names: agent-request, "
        "lab-results-request, accepted-response, validation-error, unauthorized-error, "
        "rate-limit-error, webhook-ehr-completed, webhook-lab-results-completed, webhook-error, "
        "webhook-status-update, webhook"
    )


def test_a_schema_name_that_is_not_a_string_is_refused_the_same_way() -> None:
    with pytest.raises(
        ValueError, match=r"^unknown schema name \['webhook'\]\. Valid schema names: "
    ):
        validate(["webhook"], {})  # type: ignore[arg-type]


def test_more_than_200_labs_are_accepted_because_the_server_keeps_the_200_most_recent() -> None:
    lab = LAB_RESULTS_REQUEST["labResults"][0]
    validate("lab-results-request", _with(LAB_RESULTS_REQUEST, "labResults", [lab] * 201))


def test_an_http_webhook_url_is_accepted_because_only_a_uri_is_documented() -> None:
    validate(
        "lab-results-request",
        _with(LAB_RESULTS_REQUEST, "webhookUrl", "http://127.0.0.1:8000/hook"),
    )


def test_responses_and_webhooks_accept_extra_fields_for_forward_compatibility() -> None:
    for name, payload in EXAMPLES:
        if not name.endswith("-request"):
            validate(name, {**payload, "futureField": {"any": "thing"}})


def test_schema_names_match_the_schema_files_one_to_one() -> None:
    files = {path.stem for path in schema_directory().glob("*.json")}
    assert files == {*SCHEMA_NAMES, "definitions"}


def _assumed(node: Any, pointer: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("x-helios-assumed") is True:
            found.append((pointer, node))
        for key, value in node.items():
            found += _assumed(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _assumed(item, f"{pointer}/{index}")
    return found


def _schema_files() -> list[Path]:
    return sorted(schema_directory().glob("*.json"))


@pytest.mark.parametrize("path", _schema_files(), ids=lambda path: path.name)
def test_every_assumption_has_a_description_and_is_listed_in_the_schemas_readme(
    path: Path,
) -> None:
    readme = (schema_directory() / "README.md").read_text(encoding="utf-8")
    schema = json.loads(path.read_text(encoding="utf-8"))
    for pointer, node in _assumed(schema):
        assert node.get("description"), f"{path.name}#{pointer} has no description"
        assert f"`{path.name}#{pointer}`" in readme, f"{path.name}#{pointer} not in README"


@pytest.mark.parametrize("path", _schema_files(), ids=lambda path: path.name)
def test_every_schema_file_is_a_valid_2020_12_schema_with_its_own_id(path: Path) -> None:
    import jsonschema

    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/" + path.name)


@pytest.mark.parametrize(("schema_name", "payload"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_load_schema_is_self_contained_for_the_reference_jsonschema_library(
    schema_name: str, payload: dict[str, Any]
) -> None:
    import jsonschema

    schema = load_schema(schema_name)
    jsonschema.validate(payload, schema, format_checker=jsonschema.FormatChecker())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_with(payload, schema["required"][0], DELETE), schema)


def _identifying(node: Any, path: str, root: dict[str, Any]) -> list[str]:
    """Dotted paths marked x-helios-identifying, following local $refs (``*`` = array item)."""
    if not isinstance(node, dict):
        return []
    found = [path] if node.get("x-helios-identifying") is True else []
    ref = node.get("$ref")
    if isinstance(ref, str):
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        found += _identifying(target, path, root)
    for name, sub in node.get("properties", {}).items():
        found += _identifying(sub, f"{path}.{name}".lstrip("."), root)
    if "items" in node:
        found += _identifying(node["items"], f"{path}.*", root)
    return found


def test_patient_identifiers_and_free_text_are_marked_identifying_for_the_cassettes() -> None:
    request = load_schema("lab-results-request")
    webhook = load_schema("webhook-lab-results-completed")
    assert sorted(_identifying(request, "", request)) == [
        "labResults.*.notes",
        "patientContext.clinicalNotes",
        "patientContext.name",
        "patientContext.socialHistory",
    ]
    assert _identifying(webhook, "", webhook) == ["result.labResults.*.notes"]


def test_load_schema_returns_a_fresh_copy_each_time() -> None:
    first = load_schema("webhook")
    first["properties"].clear()
    assert load_schema("webhook")["properties"]


def test_load_schema_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown schema name 'definitions'"):
        load_schema("definitions")


def test_a_contract_failure_in_a_users_test_reads_as_schema_path_keyword_and_value(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from pytest_helios import validate

        def test_webhook_contract():
            payload = {"runId": "not-a-uuid", "status": "accepted", "notes": "x" * 10_000}
            validate("accepted-response", payload)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *pytest_helios.exceptions.ContractViolation: schema 'accepted-response' "
            "violated at $.runId: keyword 'format': not a valid uuid; value: 'not-a-uuid'",
        ]
    )
    assert "x" * 200 not in result.stdout.str()
