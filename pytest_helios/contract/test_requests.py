"""Both endpoints' synchronous answers: 200 with the accepted body and the concurrency headers,
and 400 with the assumed validation-error body, probing each assumption of the request schemas.

A probe is a request the request schema accepts or refuses because of one assumed choice; the
target's answer (200 or 400) confirms or contradicts that choice. Probes the schema accepts
start a run: against the live API they are paid runs and need HELIOS_CONTRACT_EXTRA_RUNS=1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_helios.contract._recorder import ContractRecorder
from pytest_helios.contract._support import (
    LAB,
    Target,
    agent_body,
    assert_concurrency_headers,
    extra_runs_allowed,
    fragment,
    json_body,
    lab_body,
    observe_concurrency_headers,
)
from pytest_helios.exceptions import ContractViolation
from pytest_helios.facts import (
    AGENT_PATH,
    API_KEY_HEADER,
    CONCURRENT_ACTIVE_HEADER,
    CONCURRENT_LIMIT_HEADER,
    CONCURRENT_REMAINING_HEADER,
    LAB_RESULTS_PATH,
)
from pytest_helios.payloads.validation import validate

NO_ONE_LISTENS = "http://127.0.0.1:9/helios-contract"


@pytest.mark.parametrize("agent", ["light", "deep", "lab-results"])
def test_an_accepted_request_answers_200_with_the_accepted_body_and_concurrency_headers(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    sink_url: str,
    agent: str,
) -> None:
    if agent == "lab-results":
        # patientContext.age is a string here, patientInfo.age a number in the EHR body
        body = {**lab_body(sink_url), "patientContext": {"age": "58"}}
        response = target.post(LAB_RESULTS_PATH, body, {API_KEY_HEADER: api_key})
    else:
        response = target.post(AGENT_PATH, agent_body(sink_url, agent), {API_KEY_HEADER: api_key})
    source = f"{response.status_code} for a {agent} request"
    observe_success_status(contract, response, agent, source)
    assert response.status_code == 200, f"expected 200, got {fragment(response)}"
    contract.check("accepted-response", json_body(response), source)
    observe_concurrency_headers(contract, response, source, assumed=True)
    header = assert_concurrency_headers(response)
    limit, active = header(CONCURRENT_LIMIT_HEADER), header(CONCURRENT_ACTIVE_HEADER)
    assert 1 <= active <= limit, (
        f"{CONCURRENT_ACTIVE_HEADER} {active} with {CONCURRENT_LIMIT_HEADER} {limit}"
    )
    assert header(CONCURRENT_REMAINING_HEADER) == limit - active


def observe_success_status(
    contract: ContractRecorder, response: Any, agent: str, source: str
) -> None:
    """An accepted request answers 200 (gap 12), and both forms of ``age`` are accepted
    (gap 9: a number in the light and deep bodies, a string in the lab-results one)."""
    status = response.status_code
    if status == 200:
        contract.confirm("gap:success-status", source)
        contract.confirm("gap:age-types", source)
    elif 200 < status < 300:
        contract.contradict("gap:success-status", source, f"a {agent} request answered {status}")
    elif status == 400 and "age" in response.text:
        contract.contradict("gap:age-types", source, fragment(response))


@dataclass(frozen=True)
class Probe:
    """A request whose fate depends on the assumption at ``location``."""

    name: str
    endpoint: str
    location: str
    build: Callable[[str], dict[str, Any]]

    def __str__(self) -> str:
        return self.name


def _labs(*labs: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return lambda url: lab_body(url, [dict(lab) for lab in labs])


PROBES = [
    Probe(
        "an unknown top-level field in an agent request",
        AGENT_PATH,
        "agent-request.json#",
        lambda url: {**agent_body(url), "priority": "high"},
    ),
    Probe(
        "an EHR lab dated with a date-time",
        AGENT_PATH,
        "definitions.json#/$defs/isoDate",
        lambda url: {
            **agent_body(url),
            "data": {
                "recentNormalLabs": [
                    {"display": "Sodium", "value": "140", "date": "2025-01-15T08:30:00Z"}
                ]
            },
        },
    ),
    Probe(
        "agent data without any category",
        AGENT_PATH,
        "agent-request.json#/$defs/data",
        lambda url: {**agent_body(url), "data": {}},
    ),
    Probe(
        "a lab-results request without webhookUrl",
        LAB_RESULTS_PATH,
        "lab-results-request.json#",
        lambda url: {"labResults": [dict(LAB)]},
    ),
    Probe(
        "an unknown top-level field in a lab-results request",
        LAB_RESULTS_PATH,
        "lab-results-request.json#",
        lambda url: {**lab_body(url), "priority": "high"},
    ),
    Probe(
        "an unknown patientContext field",
        LAB_RESULTS_PATH,
        "lab-results-request.json#/$defs/patientContext",
        lambda url: {**lab_body(url), "patientContext": {"age": "58", "bloodType": "A+"}},
    ),
    Probe(
        "a lab with an empty name",
        LAB_RESULTS_PATH,
        "definitions.json#/$defs/labResult/properties/name",
        _labs({"name": "", "value": "1.8 mg/dL"}),
    ),
    Probe(
        "a lab with an empty value",
        LAB_RESULTS_PATH,
        "definitions.json#/$defs/labResult/properties/value",
        _labs({"name": "Creatinine", "value": ""}),
    ),
    Probe(
        "201 labs",
        LAB_RESULTS_PATH,
        "lab-results-request.json#/properties/labResults",
        _labs(*[{**LAB, "date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"} for i in range(201)]),
    ),
    Probe(
        "a lab dated with a date-time",
        LAB_RESULTS_PATH,
        "definitions.json#/$defs/labDate",
        _labs({**LAB, "date": "2025-01-15T08:30:00Z"}),
    ),
    Probe(
        "a lab dated with a date-time without a zone",
        LAB_RESULTS_PATH,
        "definitions.json#/$defs/labDate",
        _labs({**LAB, "date": "2025-01-15T08:30:00"}),
    ),
    Probe(
        "a lab dated in the ISO 8601 basic format",
        LAB_RESULTS_PATH,
        "definitions.json#/$defs/labDate",
        _labs({**LAB, "date": "20250115"}),
    ),
    Probe(
        "an http:// webhookUrl on loopback",
        LAB_RESULTS_PATH,
        "definitions.json#/$defs/webhookUrl",
        lambda url: lab_body(url if url.startswith("http://") else NO_ONE_LISTENS),
    ),
]


def schema_verdict(probe: Probe, body: dict[str, Any]) -> ContractViolation | None:
    schema = "agent-request" if probe.endpoint == AGENT_PATH else "lab-results-request"
    try:
        validate(schema, body)
    except ContractViolation as exc:
        return exc
    return None


@pytest.mark.parametrize("probe", PROBES, ids=str)
def test_the_target_accepts_or_refuses_each_probe_as_the_request_schemas_assume(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    sink_url: str,
    probe: Probe,
) -> None:
    body = probe.build(sink_url)
    refusal = schema_verdict(probe, body)
    if refusal is None:
        extra_runs_allowed(request, f"the probe '{probe.name}' starts a paid run")
    response = target.post(probe.endpoint, body, {API_KEY_HEADER: api_key})
    source = f"probe: {probe.name}"
    if refusal is None:
        if response.status_code == 400:
            observed = f"refused: {fragment(response)}; the schema accepts this request"
            contract.contradict(probe.location, source, observed)
        assert response.status_code == 200, f"{probe.name}: expected 200, got {fragment(response)}"
        contract.check("accepted-response", json_body(response), f"200 for {probe.name}")
    else:
        if response.status_code == 200:
            observed = f"accepted (200); the schema refuses it {refusal.violations[0].describe()}"
            contract.contradict(probe.location, source, observed)
        assert response.status_code == 400, f"{probe.name}: expected 400, got {fragment(response)}"
        contract.check("validation-error", json_body(response), f"400 for {probe.name}")
        # every probe names its agent type: its 400 carries the slot headers
        observe_concurrency_headers(contract, response, f"400 for {probe.name}", assumed=True)
    contract.confirm(probe.location, source)
