"""What one test's traffic teaches the scrubber never changes another test's requests: prose
under a generic secret key (``sig``, the prescription directions of an EHR medication) is
redacted in its field only, a key-shaped value under such a key is remembered for the session
(responses, the scan) but not used on other tests' requests, and a replay matches whichever
tests ran before it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from pytest_helios.cassettes.scrub import Rules, Scrubber, SecretBook, key_shaped
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

ORDER_TESTS = """
    import os, httpx, pytest

    def post(path, body):
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            response = client.post(URL + path, json=body)
        assert response.status_code == 200
        return response

    @pytest.mark.helios_cassette
    def test_a_prescription():
        post("/api/v1/agent", {
            "webhookUrl": "http://127.0.0.1:9/hook", "agentType": "light",
            "data": {"medications": [{"medication": "Metformin 500mg",
                                      "sig": "Metformin 500mg twice daily with meals",
                                      "session": os.environ["LEARNED_TOKEN"]}]},
        })

    @pytest.mark.helios_cassette
    def test_b_labs_mentioning_the_drug():
        post("/api/v1/lab-results", {
            **LAB_REQUEST,
            "patientContext": {"age": "61", "medications": [
                {"name": "Metformin", "dosage": "500mg", "frequency": "twice daily"}]},
        })
        echoed = post("/echo", {"seen": "Metformin twice daily with meals"}).json()
        assert echoed["body"]["seen"] == "Metformin twice daily with meals"
"""


def _cassette(root: Path, test: str) -> str:
    return (root / "cassettes" / "test_api" / f"{test}.yaml").read_text()


def test_prose_under_a_generic_secret_key_is_redacted_only_in_its_field(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok_" + secrets.token_hex(20)
    monkeypatch.setenv("LEARNED_TOKEN", token)
    write_project(pytester, server.url, ORDER_TESTS)

    recorded = pytester.runpytest("--helios-record-mode=once", "-p", "no:randomly")

    recorded.assert_outcomes(passed=2)
    first = _cassette(pytester.path, "test_a_prescription")
    second = _cassette(pytester.path, "test_b_labs_mentioning_the_drug")
    assert '"sig": "[REDACTED]"' in first
    assert '"session": "[REDACTED]"' in first
    assert token not in first + second
    assert '"name": "Metformin"' in second
    assert '"seen": "Metformin twice daily with meals"' in second
    server.close()
    pytester.runpytest("test_api.py::test_b_labs_mentioning_the_drug").assert_outcomes(passed=1)


def test_a_replay_matches_whichever_tests_ran_before_it(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok_" + secrets.token_hex(20)
    monkeypatch.setenv("LEARNED_TOKEN", token)
    write_project(pytester, server.url, ORDER_TESTS)
    pytester.runpytest("--helios-record-mode=once", "-p", "no:randomly").assert_outcomes(passed=2)
    server.close()

    for order in (["-p", "no:randomly"], ["-p", "randomly", "--randomly-seed=3"]):
        pytester.runpytest(*order).assert_outcomes(passed=2)
    pytester.runpytest("test_api.py::test_b_labs_mentioning_the_drug").assert_outcomes(passed=1)
    pytester.runpytest("test_api.py::test_a_prescription").assert_outcomes(passed=1)


def test_only_key_shaped_values_under_secret_keys_are_learned_for_the_session() -> None:
    book = SecretBook()
    scrubber = Scrubber(Rules.with_additions(), book)
    token = "a1" + secrets.token_hex(12)
    body = {"sig": "Metformin 500mg twice daily", "key": token, "auth": "short"}

    scrubbed = scrubber.scrub_request(
        {
            "method": "POST",
            "uri": "https://api.heliosai.health/x",
            "headers": {"content-type": ["application/json"]},
            "body": json.dumps(body),
        }
    )

    assert json.loads(scrubbed["body"]) == dict.fromkeys(body, "[REDACTED]")
    assert book.labels() == {token: "value of JSON key key"}
    other = Scrubber(Rules.with_additions(), book).scrub_request(
        {
            "method": "POST",
            "uri": "https://api.heliosai.health/x",
            "headers": {},
            "body": json.dumps({"ref": token}),
        }
    )
    assert json.loads(other["body"]) == {"ref": token}  # another test's request: unchanged
    response = Scrubber(Rules.with_additions(), book).scrub_response(
        {"status": {"code": 200}, "headers": {}, "body": {"string": json.dumps({"r": token})}}
    )
    assert json.loads(response["body"]["string"]) == {"r": "[REDACTED]"}


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        ("Metformin 500mg twice daily", False),
        ("Metformin", False),
        ("2026-01-15T12:00:00.000Z", False),
        ("tok_9f8e7d6c5b4a39281706", True),
        ("550e8400-e29b-41d4-a716-446655440000", True),
        ("sk_live_" + "a1" * 12, True),
    ],
)
def test_what_has_the_shape_of_a_key(value: str, shaped: bool) -> None:
    assert key_shaped(value) is shaped
