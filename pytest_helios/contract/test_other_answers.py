"""The answers the documentation does not describe: 404, 405, 413, a bad key on a bad body, and
a body that is no strict JSON. Each confirms or contradicts an emulator behaviour of the
assumptions catalogue (docs/assumptions.md); none of these requests starts a run unless the
target accepts what the emulator refuses, so the one that could is a paid probe on the live API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_helios.contract._recorder import ContractRecorder
from pytest_helios.contract._support import (
    NOWHERE,
    Target,
    extra_runs_allowed,
    fragment,
    observe_concurrency_headers,
)
from pytest_helios.facts import AGENT_PATH, API_KEY_HEADER

#: 5 MiB and one byte: the emulator's limit, exceeded (the body is invalid besides, so a target
#: with a larger limit answers 400 and starts no run).
OVERSIZED = 5 * 1024 * 1024 + 1


def observe_error_answer(
    contract: ContractRecorder, key: str, response: Any, status: int, title: str, source: str
) -> None:
    """The answer is ``status`` with a JSON ``{"error": title, "message": <text>}`` body."""
    __tracebackhide__ = True
    try:
        body = response.json()
    except ValueError:
        body = None
    fits = (
        response.status_code == status
        and isinstance(body, dict)
        and body.get("error") == title
        and isinstance(body.get("message"), str)
    )
    if fits:
        contract.confirm(key, source)
        return
    observed = fragment(response)
    contract.contradict(key, source, observed)
    pytest.fail(f"{source}: expected {status} {title!r}, got {observed}")


def test_an_unknown_path_answers_404_with_a_json_error(
    target: Target, contract: ContractRecorder, api_key: str
) -> None:
    response = target.post("/api/v1/unknown", {}, {API_KEY_HEADER: api_key})
    source = "404 for an unknown path"
    observe_concurrency_headers(contract, response, source, assumed=True)
    observe_error_answer(contract, "behaviour:not-found-body", response, 404, "Not Found", source)


def test_a_get_on_an_endpoint_answers_405_with_a_json_error(
    target: Target, contract: ContractRecorder, api_key: str
) -> None:
    response = target.http.get(AGENT_PATH, headers={API_KEY_HEADER: api_key})
    source = "405 for GET on the agent endpoint"
    observe_concurrency_headers(contract, response, source, assumed=True)
    key = "behaviour:method-not-allowed-body"
    observe_error_answer(contract, key, response, 405, "Method Not Allowed", source)
    allowed = response.headers.get("Allow", "")
    assert allowed == "POST", f"Allow: {allowed!r}"


def test_a_body_over_5_mib_answers_413(
    target: Target, contract: ContractRecorder, api_key: str
) -> None:
    body = {"webhookUrl": NOWHERE, "agentType": "light", "data": {}, "padding": "x" * OVERSIZED}
    response = target.post(AGENT_PATH, body, {API_KEY_HEADER: api_key})
    source = "413 for a body over 5 MiB"
    observe_concurrency_headers(contract, response, source, assumed=True)
    key = "behaviour:size-limit"
    observe_error_answer(contract, key, response, 413, "Payload Too Large", source)


def test_a_bad_key_on_a_malformed_body_is_refused_as_unauthorized(
    target: Target, contract: ContractRecorder
) -> None:
    headers = {"content-type": "application/json", API_KEY_HEADER: "sk_live_not_a_key"}
    response = target.http.post(AGENT_PATH, content=b"{not json", headers=headers)
    source = "a bad key on a malformed body"
    if response.status_code == 401:
        contract.confirm("behaviour:auth-before-body", source)
        return
    contract.contradict("behaviour:auth-before-body", source, fragment(response))
    pytest.fail(f"{source}: expected 401, got {fragment(response)}")


def test_a_body_with_nan_is_refused(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    sink_url: str,
) -> None:
    extra_runs_allowed(request, "a target that accepts NaN starts a paid light run")
    body = {"webhookUrl": sink_url, "agentType": "light", "data": {"patientInfo": {"age": 45}}}
    content = json.dumps(body).replace("45", "NaN").encode()
    headers = {"content-type": "application/json", API_KEY_HEADER: api_key}
    response = target.http.post(AGENT_PATH, content=content, headers=headers)
    source = "a body with NaN"
    if response.status_code == 400:
        contract.confirm("behaviour:json-strictness", source)
        return
    contract.contradict("behaviour:json-strictness", source, fragment(response))
    pytest.fail(f"{source}: expected 400, got {fragment(response)}")
