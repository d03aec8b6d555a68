"""Fixtures and helpers shared by the contract test modules (imported into each of them).

The suite talks to the target with plain httpx requests, not through ``HeliosClient``, so that
it sees exactly what the target answers: status, headers and body, including a request with no
``x-api-key`` header at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_helios import _options
from pytest_helios.contract._recorder import ContractRecorder, recorder_for
from pytest_helios.masking import MaskedSecret
from pytest_helios.plugin import contract_examples_key

if TYPE_CHECKING:
    import httpx

    from pytest_helios.client import HeliosClient

AGENT = "/api/v1/agent"
LAB_RESULTS = "/api/v1/lab-results"
CONCURRENCY_HEADERS = ("X-Concurrent-Limit", "X-Concurrent-Active", "X-Concurrent-Remaining")
DEFAULT_EXAMPLES = 10
#: A public URL the live API can deliver webhooks to, forwarded to this machine.
WEBHOOK_URL_VARIABLE = "HELIOS_CONTRACT_WEBHOOK_URL"
#: The local port that URL forwards to; the suite's relay listens there.
WEBHOOK_PORT_VARIABLE = "HELIOS_CONTRACT_WEBHOOK_PORT"
#: Set to 1 to let the suite start the extra paid runs the 429 test and some probes need.
EXTRA_RUNS_VARIABLE = "HELIOS_CONTRACT_EXTRA_RUNS"
#: Where runs started only for their synchronous answer send their webhooks on the live API.
NOWHERE = "https://example.invalid/helios-contract"

LAB = {"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High", "date": "2025-01-15"}
EHR_DATA = {
    "patientInfo": {"age": 45, "gender": "male"},
    "recentAbnormalLabs": [
        {"date": "2025-01-15", "display": "Hemoglobin A1c", "value": "7.2", "unit": "%"}
    ],
}


def agent_body(webhook_url: str, agent_type: str = "light") -> dict[str, Any]:
    return {"webhookUrl": webhook_url, "agentType": agent_type, "data": dict(EHR_DATA)}


def lab_body(webhook_url: str, labs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"webhookUrl": webhook_url, "labResults": labs if labs is not None else [dict(LAB)]}


def examples(config: pytest.Config) -> int:
    """``--helios-contract-examples`` (or its ini twin): examples per Hypothesis property."""
    return config.stash.get(contract_examples_key, DEFAULT_EXAMPLES)


@dataclass
class Target:
    """The API under contract: plain HTTP to its base URL."""

    live: bool
    base_url: str
    http: httpx.Client

    def post(self, path: str, body: object, headers: Mapping[str, str]) -> httpx.Response:
        import json

        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        sent = {"content-type": "application/json", "accept": "application/json", **headers}
        return self.http.post(path, content=content, headers=sent)


def skip(request: pytest.FixtureRequest, reason: str) -> NoReturn:
    """Skip this contract test and list it, with the reason, in the report."""
    recorder_for(request.config).skip(request.node.nodeid, reason)
    pytest.skip(reason)


def extra_runs_allowed(request: pytest.FixtureRequest, what: str) -> None:
    """On the live API, skip a test that starts extra paid runs unless the user opted in."""
    if target_is_live(request) and os.environ.get(EXTRA_RUNS_VARIABLE, "") != "1":
        skip(request, f"{EXTRA_RUNS_VARIABLE} is not 1: {what}")


def target_is_live(request: pytest.FixtureRequest) -> bool:
    return _options.of(request.config).live


@pytest.fixture
def contract(request: pytest.FixtureRequest) -> ContractRecorder:
    """The session's assumptions recorder (its report is written at the end of the run)."""
    return recorder_for(request.config)


@pytest.fixture
def target(
    request: pytest.FixtureRequest, helios_client: HeliosClient, contract: ContractRecorder
) -> Iterator[Target]:
    """Plain HTTP to the target's base URL (the test account's URL on the emulator)."""
    import httpx

    contract.add_secret(helios_client.api_key)
    with httpx.Client(base_url=helios_client.base_url, timeout=helios_client.timeout) as http:
        yield Target(target_is_live(request), helios_client.base_url, http)


@pytest.fixture
def api_key(helios_client: HeliosClient) -> MaskedSecret:
    """The key of the account under test."""
    return MaskedSecret(helios_client.api_key)


@pytest.fixture
def revoked(request: pytest.FixtureRequest, contract: ContractRecorder) -> MaskedSecret:
    """``revoked_key``, masked in reprs (live: HELIOS_REVOKED_API_KEY)."""
    key = MaskedSecret(request.getfixturevalue("revoked_key"))
    contract.add_secret(key)
    return key


@pytest.fixture
def foreign(request: pytest.FixtureRequest, contract: ContractRecorder) -> MaskedSecret:
    """``foreign_key``, masked in reprs (live: HELIOS_FOREIGN_API_KEY)."""
    key = MaskedSecret(request.getfixturevalue("foreign_key"))
    contract.add_secret(key)
    return key


@pytest.fixture
def sink_url(request: pytest.FixtureRequest) -> str:
    """A webhookUrl for runs started only for their synchronous answer."""
    if target_is_live(request):
        return os.environ.get(WEBHOOK_URL_VARIABLE) or NOWHERE
    receiver = request.getfixturevalue("helios_webhook_receiver")
    url: str = receiver.url
    return url


def fragment(response: httpx.Response) -> str:
    """A short description of an answer for an assumptions report."""
    return f"{response.status_code} {response.text[:200]}"


def json_body(response: httpx.Response) -> Any:
    __tracebackhide__ = True
    try:
        return response.json()
    except ValueError:
        pytest.fail(f"expected a JSON body, got {response.status_code} {response.text[:200]!r}")


def assert_concurrency_headers(response: httpx.Response) -> Callable[[str], int]:
    """Every documented ``X-Concurrent-*`` header is present and a whole number."""
    __tracebackhide__ = True
    missing = [name for name in CONCURRENCY_HEADERS if name not in response.headers]
    assert not missing, f"{response.status_code} answer without {', '.join(missing)}"
    for name in CONCURRENCY_HEADERS:
        assert response.headers[name].isdigit(), f"{name}: {response.headers[name]!r}"
    return lambda name: int(response.headers[name])
