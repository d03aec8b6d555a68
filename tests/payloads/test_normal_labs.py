"""`interpretation` only on abnormal labs: no EHR request the project builds puts one on a lab
of ``recentNormalLabs``.

helios-api.md section 2.2 (types as shown in the examples): "`interpretation` appears only on
abnormal labs (`"High"`)". The project builds EHR ``data`` in the Hypothesis strategies, the
shared sample requests, the contract suite's requests and probes, and its recorded cassettes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings

from pytest_helios import strategies
from pytest_helios.contract._support import agent_body
from pytest_helios.contract.test_requests import PROBES
from pytest_helios.facts import AGENT_PATH
from tests.samples import agent_request

ROOT = Path(__file__).resolve().parents[2]
URL = "https://example.test/hook"


def labs_with_interpretation(data: Any) -> list[dict[str, Any]]:
    """The labs of ``recentNormalLabs`` that carry an ``interpretation``."""
    if not isinstance(data, dict):
        return []
    normal = data.get("recentNormalLabs")
    labs = normal if isinstance(normal, list) else []
    return [lab for lab in labs if isinstance(lab, dict) and "interpretation" in lab]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.agent_requests())
def test_a_generated_agent_request_has_no_interpretation_on_a_normal_lab(
    request: dict[str, Any],
) -> None:
    """helios-api.md 2.2: "`interpretation` appears only on abnormal labs"."""
    assert labs_with_interpretation(request["data"]) == []
    for lab in request["data"].get("recentAbnormalLabs", []):
        assert lab["interpretation"] in ("High", "Low", "Critical")


def test_the_sample_and_contract_requests_have_no_interpretation_on_a_normal_lab() -> None:
    """helios-api.md 2.2: "`interpretation` appears only on abnormal labs"."""
    bodies = [agent_request(), agent_body(URL), agent_body(URL, "deep")]
    bodies += [probe.build(URL) for probe in PROBES if probe.endpoint == AGENT_PATH]
    assert any("recentNormalLabs" in body["data"] for body in bodies)  # the check has a subject
    assert [labs_with_interpretation(body["data"]) for body in bodies] == [[]] * len(bodies)


def _recorded_agent_requests() -> Iterator[tuple[str, Any]]:
    for path in sorted(
        [*ROOT.glob("cassettes/**/*.yaml"), *ROOT.glob("examples/*/tests/**/*.yaml")]
    ):
        if path.name.endswith(".webhooks.yaml"):
            continue
        cassette = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for interaction in cassette.get("interactions", []):
            request = interaction.get("request", {})
            if not str(request.get("uri", "")).endswith(AGENT_PATH):
                continue
            body = request.get("body")
            text = body.get("string", "") if isinstance(body, dict) else body
            try:
                parsed = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                continue  # a malformed body, recorded on purpose
            if isinstance(parsed, dict):
                yield path.relative_to(ROOT).as_posix(), parsed.get("data")


def test_no_recorded_agent_request_has_an_interpretation_on_a_normal_lab() -> None:
    """helios-api.md 2.2: "`interpretation` appears only on abnormal labs"."""
    recorded = list(_recorded_agent_requests())
    assert recorded  # the project's cassettes record agent requests
    assert [(where, labs_with_interpretation(data)) for where, data in recorded] == [
        (where, []) for where, _ in recorded
    ]
