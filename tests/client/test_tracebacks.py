"""What pytest prints of a failing Helios call holds no key and no patient value.

A user's project calls the embedded emulator (a real server on loopback) with a ``HeliosClient``
given its key the documented way, a plain ``str`` from ``HELIOS_API_KEY``, and patient data read
from a file; its tests end in a 401, a 400, a 429 and a failed comparison of the key. Whatever
``--tb``, ``-l``, ``-vv`` or ``--junitxml`` the run uses, the key, the patient's name and notes
reach none of stdout, stderr or the XML: the client's frames are hidden and hold only masked
keys, and a comparison with a key shows both operands masked.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import EHR_DATA, LAB, NOWHERE

PROJECT = """
import asyncio, json, os
from pathlib import Path

from pytest_helios import AsyncHeliosClient, HeliosClient

HERE = Path(__file__).parent


def read(name):
    return json.loads((HERE / name).read_text())


def test_a_key_of_another_account_is_refused():
    with HeliosClient(os.environ["HELIOS_API_KEY"], base_url=os.environ["OTHER_URL"]) as client:
        client.submit_lab_results(**read("labs.json"))


def test_a_lab_without_a_value_is_rejected():
    with HeliosClient(os.environ["HELIOS_API_KEY"], base_url=os.environ["ACCOUNT_URL"]) as client:
        client.submit_lab_results(**read("labs-without-value.json"))


def test_the_async_client_rejects_the_same_lab():
    client = AsyncHeliosClient(os.environ["HELIOS_API_KEY"], base_url=os.environ["ACCOUNT_URL"])
    asyncio.run(client.submit_lab_results(**read("labs-without-value.json")))


def test_an_agent_at_its_concurrency_limit_is_rate_limited():
    with HeliosClient(os.environ["HELIOS_API_KEY"], base_url=os.environ["ACCOUNT_URL"]) as client:
        client.submit_agent(**read("agent.json"))


def test_the_key_compared_with_another_string():
    with HeliosClient(os.environ["HELIOS_API_KEY"], base_url=os.environ["ACCOUNT_URL"]) as client:
        assert client.api_key == os.environ["HELIOS_API_KEY"] + "-other"
"""


@dataclass(frozen=True)
class Patient:
    """A patient made up for one test: nothing here is a committed literal."""

    name: str
    notes: str
    history: str

    @classmethod
    def new(cls) -> Patient:
        tag = secrets.token_hex(4)
        return cls(f"Jane Roe{tag}", f"Patient has HIV {tag}", f"smokes {tag} a day")


@pytest.fixture(scope="module")
def emulator() -> Iterator[HeliosEmulator]:
    with HeliosEmulator() as running:
        yield running


@pytest.fixture
def project(
    pytester: pytest.Pytester, emulator: HeliosEmulator, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Patient]:
    """The user's project, its account at its light-agent limit; (the key, the patient)."""
    account = emulator.create_account("the user's account")
    account.exhaust_concurrency("light")
    other = emulator.create_account("another account")
    key = account.create_key("ci").value
    monkeypatch.setenv("HELIOS_API_KEY", key)
    monkeypatch.setenv("ACCOUNT_URL", account.base_url)
    monkeypatch.setenv("OTHER_URL", other.base_url)
    patient = Patient.new()
    context = {
        "name": patient.name,
        "clinicalNotes": patient.notes,
        "socialHistory": patient.history,
    }
    lab = {**LAB, "notes": patient.notes}
    files = {
        "labs.json": {"lab_results": [lab], "webhook_url": NOWHERE, "patient_context": context},
        "labs-without-value.json": {
            "lab_results": [{k: v for k, v in lab.items() if k != "value"}],
            "webhook_url": NOWHERE,
            "patient_context": context,
        },
        "agent.json": {
            "agent_type": "light",
            "webhook_url": NOWHERE,
            "data": {
                **EHR_DATA,
                "patientInfo": {"name": patient.name, "age": 45},
                "note": patient.notes,
            },
        },
    }
    for name, content in files.items():
        (pytester.path / name).write_text(json.dumps(content), encoding="utf-8")
    pytester.makepyfile(test_calls=PROJECT)
    return key, patient


@pytest.mark.parametrize(
    "options",
    [
        ["--tb=auto"],
        ["--tb=long", "-l"],
        ["--tb=short"],
        ["--tb=native"],
        ["-vv"],
        ["--junitxml=report.xml"],
        ["--junitxml=report.xml", "--tb=long", "-l", "-vv"],
    ],
    ids=" ".join,
)
def test_a_failing_call_prints_no_key_and_no_patient_value(
    pytester: pytest.Pytester, project: tuple[str, Patient], options: list[str]
) -> None:
    key, patient = project
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *options)
    result.assert_outcomes(failed=5)
    shown = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    report = pytester.path / "report.xml"
    if report.exists():
        shown["the junit XML"] = report.read_text(encoding="utf-8")
    planted = {
        "the key": key,
        "the patient's name": patient.name,
        "the notes": patient.notes,
        "the social history": patient.history,
    }
    leaks = [
        (what, where)
        for what, value in planted.items()
        for where, text in shown.items()
        if value in text
    ]
    assert leaks == []
    # what the user needs is still there: the status and the reason, the masked key
    masked = f"sk_live_…{key[-4:]}"
    result.stdout.fnmatch_lines_random(
        [
            f"*HeliosAuthError: POST /accounts/*/api/v1/lab-results refused the API key {masked} "
            "(401): Unauthorized: API key belongs to a different account",
            "*HeliosValidationError: POST /accounts/*/api/v1/lab-results rejected the request "
            "(400): Validation Error: labResults[[]0[]].value: is required",
            "*HeliosRateLimited: POST /accounts/*/api/v1/agent is rate limited (429): Too many "
            "concurrent requests: You have 7 active light agent requests. Maximum is 7.; "
            "retry after 60 s",
            f"*AssertionError: assert '{masked}' == '{masked}-other'",
        ]
    )
