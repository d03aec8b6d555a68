"""Helpers shared by the contract test modules and their fixtures (``conftest.py``).

The suite talks to the target with plain httpx requests, not through ``HeliosClient``, so that
it sees exactly what the target answers: status, headers and body, including a request with no
``x-api-key`` header at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_helios import _options
from pytest_helios.contract import _session
from pytest_helios.contract._recorder import recorder_for
from pytest_helios.facts import AGENT_PATH, CONCURRENCY_HEADERS, LAB_RESULTS_PATH
from pytest_helios.masking import mask_text, shorten

if TYPE_CHECKING:
    import httpx

    from pytest_helios.contract._recorder import ContractRecorder

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
    return _session.of(config).examples


@dataclass
class Target:
    """The API under contract: plain HTTP to its base URL."""

    live: bool
    base_url: str
    http: httpx.Client
    #: told of every run the target accepts, for the cost of the run
    contract: ContractRecorder | None = None

    def post(self, path: str, body: object, headers: Mapping[str, str]) -> httpx.Response:
        import json

        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        sent = {"content-type": "application/json", "accept": "application/json", **headers}
        response = self.http.post(path, content=content, headers=sent)
        if response.status_code == 200 and self.contract is not None:
            if path == LAB_RESULTS_PATH:
                self.contract.run_started("lab-results")
            elif path == AGENT_PATH and isinstance(body, dict):
                self.contract.run_started(str(body.get("agentType")))
        return response


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


def fragment(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """A short description of an answer for a message or the assumptions report: its status
    and the start of its body, with ``secrets`` and every key-shaped string masked first."""
    return f"{response.status_code} {shorten(mask_text(response.text, secrets), 200)}"


def json_body(response: httpx.Response) -> Any:
    __tracebackhide__ = True
    try:
        return response.json()
    except ValueError:
        pytest.fail(f"expected a JSON body, got {fragment(response)}")


def assert_concurrency_headers(response: httpx.Response) -> Callable[[str], int]:
    """Every documented ``X-Concurrent-*`` header is present and a whole number."""
    __tracebackhide__ = True
    missing = [name for name in CONCURRENCY_HEADERS if name not in response.headers]
    assert not missing, f"{response.status_code} answer without {', '.join(missing)}"
    for name in CONCURRENCY_HEADERS:
        assert response.headers[name].isdigit(), f"{name}: {response.headers[name]!r}"
    return lambda name: int(response.headers[name])


CONCURRENCY_HEADERS_CARRIED = "behaviour:concurrency-headers"


def observe_concurrency_headers(
    contract: ContractRecorder, response: httpx.Response, source: str, *, assumed: bool
) -> None:
    """Record whether this answer carries the ``X-Concurrent-*`` headers as assumed (all three,
    or none)."""
    present = [name for name in CONCURRENCY_HEADERS if name in response.headers]
    if present == (list(CONCURRENCY_HEADERS) if assumed else []):
        contract.confirm(CONCURRENCY_HEADERS_CARRIED, source)
        return
    shown = ", ".join(present) or "no X-Concurrent-* header"
    expected = "all three" if assumed else "none"
    contract.contradict(
        CONCURRENCY_HEADERS_CARRIED,
        source,
        f"{response.status_code} answer with {shown}; assumed {expected}",
    )
