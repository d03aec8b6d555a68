"""No false refusal: requests of every documented shape (``pytest_helios.payloads.strategies``,
free text in many languages, emoji, any Unicode) recorded and replayed alone and in random
order are never refused and never miss. The quick suite records a few; the reliability suite
(tests/reliability/test_documented_requests.py) records 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from pytest_helios.facts import AGENT_PATH, LAB_RESULTS_PATH
from pytest_helios.payloads.strategies import agent_requests, lab_results_requests
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)


def documented_requests(count: int, chosen_seed: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` (path, body) pairs drawn from the documented request strategies."""
    drawn: list[tuple[str, dict[str, Any]]] = []
    requests = st.one_of(
        lab_results_requests(max_labs=6).map(lambda body: (LAB_RESULTS_PATH, body)),
        agent_requests().map(lambda body: (AGENT_PATH, body)),
    )

    @seed(chosen_seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(requests)
    def draw(request: tuple[str, dict[str, Any]]) -> None:
        drawn.append(request)

    draw()
    return drawn[:count]


PROJECT_TEST = """
    import json, os, pathlib, httpx, pytest

    REQUESTS = json.loads(pathlib.Path(__file__).with_name("requests.json").read_text("utf-8"))

    @pytest.mark.helios_cassette
    @pytest.mark.parametrize("index", range(len(REQUESTS)))
    def test_documented(index):
        path, body = REQUESTS[index]
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            response = client.post(URL + path, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "accepted"
"""


@dataclass
class Outcome:
    """What a record-then-replay run of documented requests came to."""

    requests: int
    recorded: int
    replayed_in_random_order: int
    replayed_alone: int
    refused: int
    missed: int


def _count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text, flags=re.MULTILINE))


def record_and_replay(
    pytester: pytest.Pytester,
    server: FakeHelios,
    count: int,
    chosen_seed: int,
    alone: int,
) -> Outcome:
    """Record ``count`` documented requests (one cassette each, in random order), then
    replay them all in another random order and the first ``alone`` of them one by one."""
    requests = documented_requests(count, chosen_seed)
    pytester.path.joinpath("requests.json").write_text(json.dumps(requests), encoding="utf-8")
    write_project(pytester, server.url, PROJECT_TEST)
    shuffled = ("-p", "randomly", "-p", "no:cacheprovider")

    recorded = pytester.runpytest(
        "--helios-record-mode=once", *shuffled, f"--randomly-seed={chosen_seed}"
    )
    server.close()
    replayed = pytester.runpytest(*shuffled, f"--randomly-seed={chosen_seed + 1}")
    texts = [recorded.stdout.str(), replayed.stdout.str()]
    passed_alone = 0
    for index in range(alone):
        single = pytester.runpytest(f"test_api.py::test_documented[{index}]")
        texts.append(single.stdout.str())
        passed_alone += single.parseoutcomes().get("passed", 0)
    output = "\n".join(texts)
    return Outcome(
        requests=len(requests),
        recorded=recorded.parseoutcomes().get("passed", 0),
        replayed_in_random_order=replayed.parseoutcomes().get("passed", 0),
        replayed_alone=passed_alone,
        refused=_count(r"^helios: refused to write cassette", output),
        missed=_count(r"^helios: no recorded response for", output),
    )


def test_documented_requests_are_never_refused_and_never_miss(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    outcome = record_and_replay(pytester, server, 12, 1913, alone=3)

    assert outcome == Outcome(
        requests=12,
        recorded=12,
        replayed_in_random_order=12,
        replayed_alone=3,
        refused=0,
        missed=0,
    )
