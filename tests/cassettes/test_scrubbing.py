"""Scrubbing: no secret and no patient identifier reaches disk, in requests or responses,
headers, query strings or bodies at any depth, whatever the content type's parameters; and
pseudonyms are deterministic, so replay still matches."""

from __future__ import annotations

import json
import string
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_helios.cassettes.persister import dump
from pytest_helios.cassettes.scan import scan_bytes
from pytest_helios.cassettes.schema_checks import identifying_paths, identifying_paths_in
from pytest_helios.cassettes.scrub import Rules, Scrubber, SecretBook, pseudonym
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

PATIENT = "Margaret Oyelaran-Whitfield"

SENDERS = {
    "httpx": """
        import httpx

        def send(requests_to_make, headers):
            with httpx.Client(headers=headers) as client:
                return [client.post(url, **kwargs) for url, kwargs in requests_to_make]
    """,
    "httpx-async": """
        import asyncio
        import httpx

        def send(requests_to_make, headers):
            async def go():
                async with httpx.AsyncClient(headers=headers) as client:
                    return [await client.post(url, **kwargs) for url, kwargs in requests_to_make]
            return asyncio.run(go())
    """,
    "requests": """
        import requests

        def send(requests_to_make, headers):
            with requests.Session() as session:
                session.headers.update(headers)
                return [
                    session.post(url, data=kwargs.get("content"), json=kwargs.get("json"),
                                 params=kwargs.get("params"))
                    for url, kwargs in requests_to_make
                ]
    """,
}

PLANTING_TEST = """
    import json, os, pytest

    PATIENT = "Margaret Oyelaran-Whitfield"

    @pytest.mark.helios_cassette
    def test_everything_everywhere():
        key = os.environ["HELIOS_API_KEY"]
        token = os.environ["PARTNER_ID"]  # a name that does not say "secret": found by place
        body = {
            "patientContext": {
                "name": PATIENT,
                "age": "58",
                "clinicalNotes": f"{PATIENT} reports fatigue; portal key {key}",
            },
            "labResults": [{"name": "Creatinine", "value": "1.8", "notes": f"drawn for {PATIENT}"}],
            "integration": {"deep": [{"accessToken": token, "echo": f"Bearer {token}"}]},
            "webhookUrl": "http://127.0.0.1:9/hook",
        }
        headers = {
            "x-api-key": key,
            "authorization": f"Bearer {token}",
            "cookie": f"session={key}",
            "x-patient": PATIENT,
            "content-type": "application/json; charset=utf-8",
            "accept-encoding": "gzip",
        }
        echo, rejected, refused = send(
            [
                (URL + "/echo", {"params": {"api_key": key, "patientName": PATIENT},
                                 "content": json.dumps(body).encode()}),
                (URL + "/api/v1/lab-results", {"json": {
                    **LAB_REQUEST, "patientContext": {"name": PATIENT, "age": 58}}}),
                (URL + "/echo-key-error", {"json": {}}),
            ],
            headers,
        )
        assert echo.status_code == 200
        assert set(echo.json()) == {"headers", "query", "body"}
        assert "x-echo-patient" in echo.headers  # the name when recording, its pseudonym replayed
        assert rejected.status_code == 400
        assert rejected.json()["details"][0]["field"] == "patientContext.age"
        assert refused.status_code == 401
"""


def planting(client: str) -> str:
    return textwrap.dedent(SENDERS[client]) + textwrap.dedent(PLANTING_TEST)


def _all_cassette_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((root / "cassettes").rglob("*.yaml")))


@pytest.mark.parametrize("client", sorted(SENDERS))
def test_a_key_a_token_and_a_patient_name_planted_everywhere_reach_disk_nowhere(
    pytester: pytest.Pytester, server: FakeHelios, client: str
) -> None:
    write_project(pytester, server.url, planting(client))
    token = server.partner_token

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    written = _all_cassette_bytes(pytester.path)
    for planted in (server.api_key, token, PATIENT, "Oyelaran"):
        assert planted.encode() not in written
    text = written.decode()
    assert "[REDACTED]" in text
    salt = (pytester.path / ".helios" / "pseudonym-salt").read_text().splitlines()[-1]
    alias = pseudonym(PATIENT, kind="id", salt=salt)
    interactions = yaml.safe_load(written)["interactions"]
    echo_request, echo_response = interactions[0]["request"], interactions[0]["response"]
    assert echo_request["headers"]["x-patient"] == [alias]
    assert echo_request["headers"]["cookie"] == ["[REDACTED]"]
    assert echo_response["headers"]["set-cookie"] == ["[REDACTED]"]
    assert echo_response["headers"]["x-echo-patient"] == [alias]
    echoed = json.loads(echo_response["body"]["string"])
    assert echoed["headers"]["x-api-key"] == "[REDACTED]"
    assert echoed["query"]["patientName"] == alias
    assert echoed["body"]["integration"]["deep"][0]["echo"] == "[REDACTED]"
    error_body = json.loads(interactions[1]["response"]["body"]["string"])
    assert error_body["details"][0]["message"] == f"age of {alias} must be a string"
    key_error = json.loads(interactions[2]["response"]["body"]["string"])
    assert key_error == {"error": "Unauthorized", "message": "Invalid key [REDACTED]"}


def test_pseudonymized_requests_still_match_on_replay(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, planting("requests"))
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    server.close()

    pytester.runpytest().assert_outcomes(passed=1)


def test_a_set_cookie_teaches_its_value_never_its_path_domain_or_expiry() -> None:
    scrubber = Scrubber(Rules.with_additions(), SecretBook())
    cookie = (
        "__cf_bm=Q2xvdWRmbGFyZS1ib3QtbWFuYWdlbWVudA; path=/api/v1/lab-results; "
        "expires=Thu, 01-Jan-2026 00:00:00 GMT; domain=.api.heliosai.health; HttpOnly; Secure"
    )
    scrubber.scrub_response(
        {"status": {"code": 200}, "headers": {"set-cookie": [cookie]}, "body": {"string": ""}}
    )
    assert list(scrubber.secrets.labels()) == ["Q2xvdWRmbGFyZS1ib3QtbWFuYWdlbWVudA"]
    request = scrubber.scrub_request(
        {
            "method": "POST",
            "uri": "https://api.heliosai.health/api/v1/lab-results",
            "headers": {"content-type": ["application/json"]},
            "body": json.dumps(
                {"labResults": [{"date": "2026-01-01T00:00:00Z", "flag": "HttpOnly"}]}
            ),
        }
    )
    assert request["uri"] == "https://api.heliosai.health/api/v1/lab-results"
    assert json.loads(request["body"]) == {
        "labResults": [{"date": "2026-01-01T00:00:00Z", "flag": "HttpOnly"}]
    }


def test_pseudonyms_are_deterministic_and_depend_on_the_salt() -> None:
    first = pseudonym(PATIENT, kind="id", salt="pytest-helios")

    assert first == pseudonym(PATIENT, kind="id", salt="pytest-helios")
    assert first != pseudonym(PATIENT, kind="id", salt="our-own-salt")
    assert first != pseudonym(PATIENT, kind="text", salt="pytest-helios")
    assert first.startswith("pseudonym-id-")


def test_users_add_secret_headers_keys_and_identifiers_through_ini_values(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = """
        import os, httpx, pytest

        @pytest.mark.helios_cassette
        def test_custom_fields():
            headers = {"x-tenant": "tenant-9f8e7d6c5b", "x-api-key": os.environ["HELIOS_API_KEY"]}
            payload = {"memberNumber": "M-55512345", "guardian": {"who": "Ruth Abernathy-Quist"}}
            with httpx.Client(headers=headers) as client:
                response = client.post(URL + "/echo", json=payload)
            assert response.status_code == 200
    """
    ini = (
        "helios_scrub_headers = x-tenant\n"
        "helios_scrub_keys = memberNumber\n"
        "helios_identifying_keys = **.guardian\n"
    )
    write_project(pytester, server.url, tests, ini=ini)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    written = _all_cassette_bytes(pytester.path)
    for planted in ("tenant-9f8e7d6c5b", "M-55512345", "Ruth Abernathy-Quist", server.api_key):
        assert planted.encode() not in written
    assert b"pseudonym-id-" in written


def test_users_add_rules_through_the_marker_and_secrets_through_the_fixture(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = """
        import os, httpx, pytest

        @pytest.fixture
        def helios_cassette_config(helios_cassette_config):
            return dataclasses.replace(helios_cassette_config, extra_secrets=("opaque-1d2c3b4a",))

        @pytest.mark.helios_cassette(
            secret_headers=["x-tenant"], secret_keys=["memberNumber"],
            identifying_keys=["**.guardian"],
        )
        def test_custom_fields(helios_cassette_config):
            headers = {"x-tenant": "tenant-9f8e7d6c5b", "x-api-key": os.environ["HELIOS_API_KEY"]}
            payload = {"memberNumber": "M-55512345", "guardian": {"who": "Ruth Abernathy-Quist"},
                       "note": "ticket opaque-1d2c3b4a"}
            with httpx.Client(headers=headers) as client:
                response = client.post(URL + "/echo", json=payload)
            assert response.status_code == 200
    """
    write_project(pytester, server.url, "import dataclasses\n" + textwrap.dedent(tests))

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    written = _all_cassette_bytes(pytester.path)
    planted = ("tenant-9f8e7d6c5b", "M-55512345", "Ruth Abernathy-Quist", "opaque-1d2c3b4a")
    for value in (*planted, server.api_key):
        assert value.encode() not in written
    assert b"pseudonym-id-" in written
    assert b"[REDACTED]" in written


def test_identifying_fields_are_read_from_schema_annotations() -> None:
    schema = {
        "$defs": {"person": {"type": "string", "x-helios-identifying": True}},
        "properties": {
            "patientContext": {
                "properties": {"guardian": {"$ref": "#/$defs/person"}, "age": {"type": "string"}}
            },
            "labResults": {"items": {"$ref": "definitions.json#/$defs/lab"}},
        },
    }
    sibling = {"$defs": {"lab": {"properties": {"orderedBy": {"x-helios-identifying": True}}}}}

    paths = identifying_paths_in(schema, {"definitions.json": sibling}.__getitem__)

    assert sorted(paths) == ["labResults.*.orderedBy", "patientContext.guardian"]


def test_the_shipped_schemas_mark_the_patient_name_and_notes_as_identifying() -> None:
    assert {"**.patientContext.name", "**.labResults.*.notes"} <= set(identifying_paths())


_TOKEN = st.text(string.ascii_letters + string.digits + "-_.", min_size=12, max_size=40)
_PLACES = st.sampled_from(
    [
        "request header x-api-key",
        "request header x-innocent",
        "response header set-cookie",
        "response header x-innocent",
        "query value",
        "request JSON value",
        "request JSON key",
        "response JSON value",
        "response text",
        "charset JSON",
    ]
)


def _interaction(
    place: str, secret: str, depth: int
) -> tuple[dict[str, object], dict[str, object]]:
    nested: object = secret
    for level in range(depth):
        nested = {f"level{level}": [nested]}
    json_body = json.dumps({"data": nested})
    request: dict[str, object] = {
        "method": "POST",
        "uri": "https://api.heliosai.health/api/v1/agent",
        "headers": {"content-type": ["application/json"]},
        "body": json.dumps({"ok": True}),
    }
    response: dict[str, object] = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["text/plain"]},
        "body": {"string": "nothing here"},
    }
    if place.startswith("request header"):
        request["headers"] = {place.split()[-1]: [secret]}
    elif place.startswith("response header"):
        response["headers"] = {place.split()[-1]: [secret]}
    elif place == "query value":
        request["uri"] = f"https://api.heliosai.health/api/v1/agent?ref={secret}"
    elif place == "request JSON value":
        request["body"] = json_body
    elif place == "request JSON key":
        request["body"] = json.dumps({secret: 1})
    elif place == "response JSON value":
        response["body"] = {"string": json_body}
    elif place == "charset JSON":
        response["headers"] = {"Content-Type": ["application/json; charset=utf-8"]}
        response["body"] = {"string": json_body.encode()}
    else:
        response["body"] = {"string": f"error: {secret} was rejected"}
    return request, response


@settings(max_examples=60, deadline=None)
@given(
    token=_TOKEN,
    key_shaped=st.booleans(),
    place=_PLACES,
    depth=st.integers(min_value=0, max_value=4),
)
def test_a_secret_planted_anywhere_is_never_written(
    token: str, key_shaped: bool, place: str, depth: int
) -> None:
    """Known secrets and key-shaped strings, in any place: the bytes never hold them."""
    book = SecretBook()
    secret = "sk_live_" + token.replace("-", "").replace("_", "").replace(".", "") + "A1b2c3d4"
    if not key_shaped:
        secret = "known" + token
        book.add(secret, "a secret the session knows")
    scrubber = Scrubber(Rules.with_additions(), book)
    request, response = _interaction(place, secret, depth)

    document = {
        "helios": {"format": 1},
        "interactions": [
            {
                "request": scrubber.scrub_request(request),
                "response": scrubber.scrub_response(response),
            }
        ],
    }
    data = dump(document)

    assert secret.encode() not in data
    assert scan_bytes(data, secrets=book.labels()) == []


HOOK_CONFTEST = """
import os
import pytest

class CassetteHooks:
    @pytest.hookspec
    def pytest_helios_scrub_interaction(self, config, interaction):
        "Change a scrubbed interaction in place."

def pytest_addhooks(pluginmanager):
    if not hasattr(pluginmanager.hook, "pytest_helios_scrub_interaction"):
        pluginmanager.add_hookspecs(CassetteHooks)

def pytest_helios_scrub_interaction(config, interaction):
    for part in interaction.values():
        body = part["body"]["string"] if "status" in part else part["body"]
        if isinstance(body, str) and "status" in part:
            part["body"]["string"] = body.replace("tenant-ABC123", "tenant-hidden")
        elif isinstance(body, str):
            part["body"] = body.replace("tenant-ABC123", "tenant-hidden")
        if os.environ.get("LEAK"):
            part["headers"]["x-debug"] = [os.environ["HELIOS_API_KEY"]]
"""

HOOK_TEST = """
    import httpx, pytest

    @pytest.mark.helios_cassette
    def test_with_a_tenant():
        with httpx.Client() as client:
            response = client.post(URL + "/echo", json={"opsNote": "tenant-ABC123"})
        assert response.status_code == 200
"""


def test_a_scrub_hook_adds_a_rule_and_replay_still_matches(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, HOOK_TEST)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + HOOK_CONFTEST)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    written = _all_cassette_bytes(pytester.path)
    server.close()

    assert b"tenant-ABC123" not in written
    assert written.count(b"tenant-hidden") == 2
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_scrub_hook_cannot_remove_the_defaults(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, server.url, HOOK_TEST)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + HOOK_CONFTEST)
    monkeypatch.setenv("LEAK", "1")

    result = pytester.runpytest("--helios-record-mode=once")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*  interaction 0, request, header x-debug: a known secret "
            "(environment variable HELIOS_API_KEY)",
        ]
    )
    assert not (pytester.path / "cassettes").exists()
