"""Patient identifiers under any common spelling (snake_case, kebab-case, upper case, FHIR
and EHR shapes, multipart form fields) are pseudonymized, secret headers are found by their
normalized names, and an identifier the test's traffic revealed is replaced wherever it stands
in text, a first name in a greeting and a three-letter name included."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

import pytest
import yaml

from pytest_helios.cassettes.scrub import MIN_IDENTIFIER_LENGTH, Rules, Scrubber, SecretBook
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)


def new_name(letters: int = 7) -> str:
    """A generated name, different on every run."""
    return secrets.choice("BDFGKMPRTVZ") + "".join(
        secrets.choice(string.ascii_lowercase) for _ in range(letters - 1)
    )


def new_date() -> str:
    """A generated birth date, different on every run."""
    year, month, day = (
        1920 + secrets.randbelow(80),
        1 + secrets.randbelow(12),
        10 + secrets.randbelow(18),
    )
    return f"{year}-{month:02d}-{day}"


def _written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((root / "cassettes").rglob("*.yaml")))


SPELLINGS_TEST = """
    import json, os, httpx, pytest

    PLANTED = json.loads(os.environ["PLANTED"])

    @pytest.mark.helios_cassette
    def test_every_spelling():
        p = PLANTED
        data = {
            "patientInfo": {"age": 45, "patient_name": p["patient_name"]},
            "demographics": {
                "first_name": p["first_name"], "last-name": p["last_name"],
                "date_of_birth": p["date_of_birth"], "DOB": p["dob"], "MRN": p["mrn"],
                "medical_record_number": p["medical_record_number"],
                "phone_number": p["phone_number"], "ssn_last4": p["ssn_last4"],
                "Email_Address": p["email_address"],
            },
            "fhirPatient": {
                "resourceType": "Patient",
                "name": [{"family": p["family"], "given": [p["given"]]}],
                "identifier": [{"system": "urn:mrn", "value": p["identifier"]}],
            },
        }
        headers = {"Api_Key": p["api_key"], "X-Access-Key": p["access_key"]}
        with httpx.Client(headers=headers) as client:
            accepted = client.post(URL + "/api/v1/agent", json={
                "webhookUrl": "http://127.0.0.1:9/hook", "agentType": "light", "data": data})
            echoed = client.post(URL + "/echo", json=data)
            uploaded = client.post(URL + "/upload", files={"report": ("r.txt", b"labs")},
                                   data={"patient_name": p["form_name"], "DOB": p["form_dob"]})
        assert accepted.status_code == 401  # FakeHelios wants its x-api-key
        assert echoed.status_code == 200
        assert uploaded.status_code == 404
"""


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "patient_name": f"{new_name()} {new_name()}",
        "first_name": new_name(),
        "last_name": new_name(),
        "date_of_birth": new_date(),
        "dob": "/".join(reversed(new_date().split("-"))),
        "mrn": f"MRN{secrets.randbelow(10**8):08d}",
        "medical_record_number": f"{secrets.randbelow(10**9):09d}",
        "phone_number": f"+1-555-{secrets.randbelow(10**7):07d}",
        "ssn_last4": f"x{secrets.randbelow(10**4):04d}",
        "email_address": f"{new_name().lower()}@mail.example",
        "family": new_name(),
        "given": new_name(),
        "identifier": f"ID-{secrets.token_hex(5)}",
        "form_name": f"{new_name()} {new_name()}",
        "form_dob": new_date(),
        "api_key": "key" + secrets.token_hex(12),
        "access_key": "acc" + secrets.token_hex(12),
    }
    monkeypatch.setenv("PLANTED", json.dumps(values))
    return values


def test_identifiers_under_every_common_spelling_never_reach_disk(
    pytester: pytest.Pytester, server: FakeHelios, planted: dict[str, str]
) -> None:
    write_project(pytester, server.url, SPELLINGS_TEST)

    recorded = pytester.runpytest("--helios-record-mode=once")

    recorded.assert_outcomes(passed=1)
    written = _written(pytester.path)
    leaked = [name for name, value in planted.items() if value.encode() in written]
    assert leaked == []
    assert not [name for name, value in planted.items() if value in recorded.stdout.str()]
    interactions = yaml.safe_load(written)["interactions"]
    echoed = json.loads(interactions[1]["response"]["body"]["string"])
    assert echoed["headers"]["Api_Key"] == "[REDACTED]"
    assert echoed["body"]["fhirPatient"]["name"][0]["given"][0].startswith("pseudonym-id-")
    assert interactions[1]["request"]["headers"]["x-access-key"] == ["[REDACTED]"]
    upload = interactions[2]["request"]
    assert upload["headers"]["content-type"] == [
        "multipart/form-data; boundary=helios-multipart-boundary"
    ]
    server.close()
    pytester.runpytest().assert_outcomes(passed=1)


FRAGMENTS_TEST = """
    import json, os, httpx, pytest

    P = json.loads(os.environ["PLANTED"])

    @pytest.mark.helios_cassette
    def test_fragments():
        with httpx.Client() as client:
            first = client.post(URL + "/echo", params={"who": P["short"]}, json={
                "patient": {"name": P["full"], "first_name": P["short"], "mrn": P["mrn"]},
                "greeting": "Hello " + P["first"] + "!",
                "remark": "chart " + P["mrn"] + " reviewed with " + P["short"],
            })
            later = client.post(URL + "/echo", json={"remark": P["last"] + " called back"})
        assert first.json()["body"]["greeting"].startswith("Hello ")
        assert later.status_code == 200
"""


def test_an_identifier_is_replaced_wherever_it_stands_in_text(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, last = new_name(), new_name(6) + "-" + new_name(5)
    planted = {
        "first": first,
        "last": last,
        "full": f"{first} {last}",
        "short": new_name(3),  # a three-letter name
        "mrn": f"{secrets.randbelow(10**8):08d}",
    }
    monkeypatch.setenv("PLANTED", json.dumps(planted))
    write_project(pytester, server.url, FRAGMENTS_TEST)

    recorded = pytester.runpytest("--helios-record-mode=once")

    recorded.assert_outcomes(passed=1)
    written = _written(pytester.path)
    for value in (*planted.values(), *last.split("-")):
        assert value.encode() not in written, value
        assert value not in recorded.stdout.str()
    document = yaml.safe_load(written)
    greeting = json.loads(document["interactions"][0]["response"]["body"]["string"])
    assert greeting["body"]["greeting"].startswith("Hello pseudonym-id-")
    assert "who=pseudonym-id-" in document["interactions"][0]["request"]["uri"]
    server.close()
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_length_floor_of_identifiers_in_text_is_three() -> None:
    scrubber = Scrubber(Rules.with_additions(), SecretBook())
    body = {"first_name": "Al", "last_name": "Poe", "remark": "Al and Poe, Alan and Poet"}

    request = scrubber.scrub_request(
        {
            "method": "POST",
            "uri": "https://api.heliosai.health/x",
            "headers": {"content-type": ["application/json"]},
            "body": json.dumps(body),
        }
    )

    stored = json.loads(request["body"])
    poe = stored["last_name"]
    assert MIN_IDENTIFIER_LENGTH == 3
    assert stored["remark"] == f"Al and {poe}, Alan and Poet"


@pytest.mark.parametrize(
    "key",
    [
        "patient_name",
        "first_name",
        "date_of_birth",
        "DOB",
        "MRN",
        "medical_record_number",
        "phone_number",
        "ssn_last4",
        "Patient-First-Name",
        "patientDob",
    ],
)
def test_identifying_key_names_are_normalized_like_secret_keys(key: str) -> None:
    assert Rules.with_additions().identifying_kind(("data", "x", key)) == "id"


@pytest.mark.parametrize(
    "path",
    [
        ("name", "[0]", "family"),
        ("name", "[1]", "given"),
        ("entry", "[0]", "resource", "identifier", "[2]", "value"),
        ("patient_context", "name"),
    ],
)
def test_fhir_and_ehr_shapes_are_identifying(path: tuple[str, ...]) -> None:
    assert Rules.with_additions().identifying_kind(path) == "id"


@pytest.mark.parametrize("path", [("labResults", "[0]", "name"), ("medications", "[0]", "name")])
def test_a_lab_or_a_medication_name_is_not_a_patient(path: tuple[str, ...]) -> None:
    assert Rules.with_additions().identifying_kind(path) is None


@pytest.mark.parametrize("header", ["Api_Key", "X-Access-Key", "x-api-key", "X_AUTH_TOKEN"])
def test_secret_header_names_are_normalized(header: str) -> None:
    assert Rules.with_additions().is_secret_header(header)
