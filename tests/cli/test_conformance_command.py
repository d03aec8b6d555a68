"""``helios conformance`` runs the endpoint conformance kit against a URL, one verdict a case."""

from __future__ import annotations

import json

import pytest

from pytest_helios.webhooks import CASE_NAMES, WebhookReceiver, check_endpoint

from .conftest import SECRET, Recording, closed_port_url, helios

WITH_SECRET = {"HELIOS_WEBHOOK_SECRET": SECRET}


def test_a_verifying_endpoint_passes_every_case(receiver: WebhookReceiver) -> None:
    ran = helios("conformance", "--url", receiver.url, env=WITH_SECRET)
    assert (ran.status, ran.err) == (0, "")
    lines = ran.out.splitlines()
    assert lines[0] == f"Endpoint conformance of {receiver.url}"
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["PASS", f"{name}:"] for name in CASE_NAMES
    ]
    assert lines[1] == "PASS  valid: 200 ok (expected 2xx)"
    assert lines[-1] == f"{len(CASE_NAMES)} cases: {len(CASE_NAMES)} passed, 0 failed"


def test_an_endpoint_that_accepts_everything_fails_the_cases_the_kit_fails(
    accepts_everything: Recording,
) -> None:
    ran = helios("conformance", "--url", accepts_everything.url, env=WITH_SECRET)
    assert ran.status == 1
    failed = [
        line.split()[1].rstrip(":") for line in ran.out.splitlines() if line.startswith("FAIL")
    ]
    with pytest.raises(AssertionError) as kit:
        check_endpoint(accepts_everything.url, secret=SECRET)
    assert failed == [line.split()[0].rstrip(":") for line in str(kit.value).splitlines()[1:]]
    assert (
        "FAIL  tampered-body: 200 noted (expected 4xx); case: the body was changed after signing"
        in ran.out.splitlines()
    )
    summary = (
        f"{len(CASE_NAMES)} cases: {len(CASE_NAMES) - len(failed)} passed, {len(failed)} failed"
    )
    assert ran.out.splitlines()[-1] == summary


def test_the_json_report_has_one_verdict_per_case(accepts_everything: Recording) -> None:
    ran = helios("conformance", "--url", accepts_everything.url, "--secret", SECRET, "--json")
    report = json.loads(ran.out)
    assert ran.status == 1
    assert [v["case"] for v in report["cases"]] == list(CASE_NAMES)
    assert report["passed"] + report["failed"] == len(CASE_NAMES)
    assert report["cases"][0] == {
        "case": "valid",
        "expected": "accept",
        "statusCode": 200,
        "answer": "200 noted",
        "ok": True,
        "reason": "a correctly signed delivery",
    }
    assert {v["case"] for v in report["cases"] if not v["ok"]} == {
        v["case"] for v in report["cases"] if v["expected"] == "reject"
    }
    assert SECRET not in ran.out


def test_an_unreachable_endpoint_is_named() -> None:
    url = closed_port_url() + "/hook"
    ran = helios("conformance", "--url", url, env=WITH_SECRET)
    assert (ran.status, ran.out, ran.err) == (
        1,
        "",
        f"helios conformance: error: cannot reach {url} (connection refused)\n",
    )
