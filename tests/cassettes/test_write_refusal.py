"""The independent scan: a secret that survives scrubbing makes the write refused, and the
test fails naming the place (cassette, interaction, request or response, header or JSON
path), never the value."""

from __future__ import annotations

import json

import pytest

from pytest_helios.cassettes.persister import dump
from pytest_helios.cassettes.scan import Finding, scan_bytes
from pytest_helios.exceptions import CassetteWriteRefused
from tests.cassettes.helpers import (
    FakeHelios,
    new_api_key,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)


def test_a_key_in_a_binary_body_refuses_the_write_and_fails_the_test(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = """
        import secrets, httpx, pytest

        @pytest.mark.helios_cassette
        def test_download():
            planted = "sk_live_" + secrets.token_hex(16)
            print("planted:", planted[-6:])
            with httpx.Client() as client:
                response = client.get(URL + "/binary", params={"plant": planted})
            assert planted.encode() in response.content
    """
    write_project(pytester, server.url, tests)

    result = pytester.runpytest("--helios-record-mode=once")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*helios: refused to write cassette cassettes/test_api/test_download.yaml: "
            "2 secrets or identifiers survived scrubbing",
            "*  interaction 0, response, body: unreadable bytes (46 bytes that are neither "
            "text nor gzip, zlib or zip), which cannot be checked for secrets; to record them "
            "anyway, replace the body in a pytest_helios_scrub_interaction hook",
            "*  interaction 0, response, body: a key-shaped string (a Helios API key)",
            "*Nothing was written. Add a rule so the scrubber removes it*",
        ]
    )
    planted_tail = result.stdout.str().split("planted: ")[1][:6]
    assert result.stdout.str().count(planted_tail) == 1  # only the test's own print
    assert not (pytester.path / "cassettes").exists()


def test_the_scan_names_header_and_json_path_of_each_known_secret() -> None:
    secret = "known-" + new_api_key()[8:]
    document = {
        "helios": {"format": 1},
        "interactions": [
            {
                "request": {
                    "method": "GET",
                    "uri": "https://api.heliosai.health/x",
                    "headers": {"x-note": [f"see {secret}"]},
                    "body": None,
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {"string": json.dumps({"data": {"items": [{"k": secret}]}})},
                },
            }
        ],
    }

    findings = scan_bytes(dump(document), secrets={secret: "the test's secret"})

    assert findings == [
        Finding("interaction 0, request, header x-note", "a known secret (the test's secret)"),
        Finding(
            "interaction 0, response, body $.data.items[0].k",
            "a known secret (the test's secret)",
        ),
    ]
    assert secret not in str(CassetteWriteRefused("c.yaml", findings))


def test_a_secret_outside_the_structure_is_found_by_line() -> None:
    secret = new_api_key()
    data = b"# " + secret.encode() + b"\nhelios: {format: 1}\ninteractions: []\n"

    assert scan_bytes(data, secrets={}) == [
        Finding("line 1", "a key-shaped string (a Helios API key)")
    ]


def test_patient_identifiers_met_while_scrubbing_are_scanned_for_by_word() -> None:
    data = dump({"interactions": [], "note": "Seen: Ann Lee, and Annabel"})

    findings = scan_bytes(data, secrets={}, identifiers={"Ann Lee": "patientContext.name"})

    assert findings == [Finding("note", "a patient identifier (patientContext.name)")]
    assert scan_bytes(data, secrets={}, identifiers={"Anna": "x"}) == []


def test_the_cassette_handle_never_shows_a_raw_request(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = """
        import os, httpx, pytest

        @pytest.mark.helios_cassette
        def test_shows_its_cassette(helios_cassette):
            with httpx.Client() as client:
                client.post(URL + "/echo", params={"api_key": os.environ["HELIOS_API_KEY"]})
            assert repr(helios_cassette) == (
                "<helios cassette cassettes/test_api/test_shows_its_cassette.yaml record_mode=once>"
            )
    """
    write_project(pytester, server.url, tests)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
