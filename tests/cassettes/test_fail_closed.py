"""Bodies and URLs the scrubber cannot read as plain UTF-8 still never put a secret on disk:
other charsets are scrubbed in their charset, unknown compression is never recorded, a gzip,
zlib or zip payload is scrubbed and scanned inside, bytes no scan can read are never written,
and the scan finds a known secret in its encoded forms."""

from __future__ import annotations

import gzip
import io
import json
import secrets
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from pytest_helios.cassettes.persister import dump
from pytest_helios.cassettes.scan import Finding, expand, scan_bytes
from pytest_helios.cassettes.scrub import BodyNotReadable, Rules, Scrubber, SecretBook
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)
from tests.loopback import LoopbackServer, QuietHandler


def scrubber_knowing(secret: str) -> Scrubber:
    book = SecretBook()
    book.add(secret, "the test's key")
    return Scrubber(Rules.with_additions(), book)


def response(body: bytes, **headers: str) -> dict[str, object]:
    return {
        "status": {"code": 400, "message": "Bad Request"},
        "headers": {name.replace("_", "-"): [value] for name, value in headers.items()},
        "body": {"string": body},
    }


def document(message: dict[str, object]) -> dict[str, object]:
    request = {
        "method": "POST",
        "uri": "https://api.heliosai.health/x",
        "headers": {},
        "body": None,
    }
    return {"helios": {"format": 1}, "interactions": [{"request": request, "response": message}]}


@pytest.fixture
def key() -> str:
    return "sk_live_" + secrets.token_hex(16)


def test_a_utf16_json_body_is_scrubbed_in_its_charset(key: str) -> None:
    body = json.dumps({"message": f"bad key {key}"}).encode("utf-16")
    scrubbed = scrubber_knowing(key).scrub_response(
        response(body, content_type="application/json; charset=utf-16")
    )
    stored = scrubbed["body"]["string"]  # type: ignore[index]
    assert isinstance(stored, bytes)
    assert key not in stored.decode("utf-16")
    assert "[REDACTED]" in stored.decode("utf-16")
    assert scan_bytes(dump(document(scrubbed)), secrets={key: "the test's key"}) == []


def test_a_body_with_an_unknown_content_encoding_is_never_recorded(key: str) -> None:
    with pytest.raises(BodyNotReadable) as excinfo:
        scrubber_knowing(key).scrub_response(
            response(
                b"\x28\xb5\x2f\xfd opaque", content_type="application/json", content_encoding="zstd"
            )
        )
    assert str(excinfo.value) == (
        "helios: will not record a response: it has a body with Content-Encoding 'zstd', "
        "which cannot be checked for secrets. Nothing was written."
    )


def test_a_corrupt_gzip_body_is_never_recorded(key: str) -> None:
    with pytest.raises(BodyNotReadable, match="Content-Encoding 'gzip' that cannot be decoded"):
        scrubber_knowing(key).scrub_response(
            response(gzip.compress(key.encode())[:-6], content_encoding="gzip")
        )


def test_a_body_the_client_already_decoded_is_scrubbed_as_the_text_it_is(key: str) -> None:
    # requests (through urllib3) hands vcrpy the decoded body under the original header
    body = json.dumps({"message": f"bad key {key}"}).encode()
    scrubbed = scrubber_knowing(key).scrub_response(
        response(body, content_type="application/json", content_encoding="gzip")
    )
    stored = scrubbed["body"]["string"]  # type: ignore[index]
    assert json.loads(stored) == {"message": "bad key [REDACTED]"}
    assert "content-encoding" not in scrubbed["headers"]  # type: ignore[operator]


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_binary_bytes_under_a_content_encoding_they_do_not_match_are_never_recorded(
    key: str, encoding: str
) -> None:
    with pytest.raises(BodyNotReadable, match=f"Content-Encoding '{encoding}'"):
        scrubber_knowing(key).scrub_response(
            response(b"\x00\x9c\xfe" + key.encode(), content_encoding=encoding)
        )


def test_a_body_that_does_not_decode_in_its_declared_charset_is_never_recorded(key: str) -> None:
    with pytest.raises(BodyNotReadable, match="charset 'utf-16' that does not decode"):
        scrubber_knowing(key).scrub_response(
            response(b"\xff\xfe\x00", content_type="text/plain; charset=utf-16")
        )


@pytest.mark.parametrize(
    "form",
    ["percent-encoded", "utf-16 bytes", "base64"],
)
def test_the_scan_finds_a_known_secret_in_its_encoded_forms(key: str, form: str) -> None:
    import base64

    secret = key + "+/="
    encoded = {
        "percent-encoded": quote(secret, safe=""),
        "utf-16 bytes": secret.encode("utf-16-le").decode("latin-1"),
        "base64": base64.b64encode(secret.encode()).decode(),
    }[form]
    message = response(b"", content_type="text/plain")
    message["headers"] = {"x-trace": [f"path /x/{encoded}/y"]}
    findings = scan_bytes(dump(document(message)), secrets={secret: "the test's key"})
    assert (
        Finding("interaction 0, response, header x-trace", "a known secret (the test's key)")
        in findings
    )


# ---------------------------------------------------------------- bodies packed as payloads

PACKED_TEST = """
    import gzip, io, json, os, zipfile, zlib, httpx, pytest

    def unpack(kind, data):
        if kind == "gzip":
            return gzip.decompress(data)
        if kind == "zlib":
            return zlib.decompress(data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read(archive.namelist()[0])

    @pytest.mark.helios_cassette
    @pytest.mark.parametrize("kind", ["gzip", "zlib", "zip"])
    def test_export(kind):
        record = {"patientName": "Josephine Marchetti-Lund", "dateOfBirth": "1961-04-23"}
        with httpx.Client() as client:
            response = client.post(
                URL + "/" + kind, json={**record, "apiKey": os.environ["HELIOS_API_KEY"]}
            )
        assert response.headers["content-type"] == "application/octet-stream"
        if kind == "opaque":
            return
        exported = json.loads(unpack(kind, response.content))
        assert set(exported) == {"patientName", "dateOfBirth", "apiKey", "echo"}
"""


class Archives(LoopbackServer):
    """Answers ``POST /<kind>`` with the JSON it was sent, plus an ``echo`` of it as text,
    packed as ``kind`` (gzip, zlib, zip, or ``opaque``: XOR-ed) as ``application/octet-stream``
    with no ``Content-Encoding``: a file download, not a coding of the transfer."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def do_POST(self) -> None:
                sent = json.loads(self.body())
                payload = json.dumps({**sent, "echo": " ".join(sent.values())}).encode()
                kind = self.path.strip("/")
                if kind == "gzip":
                    packed = gzip.compress(payload)
                elif kind == "zlib":
                    packed = zlib.compress(payload)
                elif kind == "zip":
                    buffer = io.BytesIO()
                    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                        archive.writestr("export.json", payload)
                    packed = buffer.getvalue()
                else:
                    packed = bytes(byte ^ 0xA5 for byte in payload)
                self.reply(200, packed, {"Content-Type": "application/octet-stream"})

        super().__init__(Handler)


@pytest.fixture
def archives() -> Iterator[Archives]:
    with Archives() as server:
        yield server


def _written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*.yaml")))


def test_a_gzip_zlib_or_zip_body_without_content_encoding_is_scrubbed_inside(
    pytester: pytest.Pytester, server: FakeHelios, archives: Archives
) -> None:
    """The payload stays packed (the client replays what it got), scrubbed inside."""
    write_project(pytester, archives.url, PACKED_TEST)

    recorded = pytester.runpytest("--helios-record-mode=once")

    recorded.assert_outcomes(passed=3)
    cassettes = pytester.path / "cassettes"
    for kind in ("gzip", "zlib", "zip"):
        document = yaml.safe_load((cassettes / f"test_api/test_export[{kind}].yaml").read_text())
        packed = document["interactions"][0]["response"]["body"]["string"]
        assert isinstance(packed, bytes)
        inner = expand(packed)[1][0][1]
        exported = json.loads(inner)
        assert exported["apiKey"] == "[REDACTED]"
        assert exported["patientName"].startswith("pseudonym-id-")
        assert exported["dateOfBirth"].startswith("pseudonym-id-")
        assert "Josephine" not in exported["echo"]
        assert "1961-04-23" not in exported["echo"]
    written = _written(cassettes)
    for planted in (server.api_key, "Josephine", "Marchetti", "1961-04-23"):
        assert planted.encode() not in written
        assert planted not in recorded.stdout.str()
    archives.close()
    server.close()
    pytester.runpytest().assert_outcomes(passed=3)


def test_a_body_no_scan_can_read_is_never_written(
    pytester: pytest.Pytester, server: FakeHelios, archives: Archives
) -> None:
    tests = PACKED_TEST.replace('["gzip", "zlib", "zip"]', '["opaque"]')
    write_project(pytester, archives.url, tests)

    result = pytester.runpytest("--helios-record-mode=once")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*helios: refused to write cassette cassettes/test_api/test_export[[]opaque[]].yaml: "
            "1 secret or identifier survived scrubbing",
            "*  interaction 0, response, body: unreadable bytes (* bytes that are neither text "
            "nor gzip, zlib or zip), which cannot be checked for secrets; to record them "
            "anyway, replace the body in a pytest_helios_scrub_interaction hook",
        ]
    )
    assert not (pytester.path / "cassettes").exists()
    assert server.api_key not in result.stdout.str()


def _cassette_with_body(body: bytes, content_type: str = "application/octet-stream") -> bytes:
    message = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": [content_type]},
        "body": {"string": body},
    }
    return dump(document(message))


@pytest.mark.parametrize("kind", ["gzip", "zlib", "zip"])
def test_the_scan_reads_inside_a_packed_body(key: str, kind: str) -> None:
    payload = json.dumps({"patient": {"dob": "1961-04-23"}, "ref": key}).encode()
    if kind == "gzip":
        packed = gzip.compress(payload)
    elif kind == "zlib":
        packed = zlib.compress(payload)
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("a/export.json", payload)
        packed = buffer.getvalue()
    member = " member a/export.json" if kind == "zip" else ""

    findings = scan_bytes(
        _cassette_with_body(packed),
        secrets={key: "the test's key"},
        identifiers={"1961-04-23": "dateOfBirth"},
    )

    place = f"interaction 0, response, body ({kind}{member}) $"
    assert findings == [
        Finding(f"{place}.patient.dob", "a patient identifier (dateOfBirth)"),
        Finding(f"{place}.ref", "a known secret (the test's key)"),
        Finding(f"{place}.ref", "a key-shaped string (a Helios API key)"),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (gzip.compress(b"x" * 100)[:-9], "a truncated compressed stream"),
        (gzip.compress(b"\0" * (65 * 1024 * 1024)), "more than 67,108,864 bytes once decompressed"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "10 bytes that are neither text nor gzip, zlib or zip"),
    ],
    ids=["truncated", "a gzip bomb", "binary"],
)
def test_bytes_the_scan_cannot_read_are_a_finding(body: bytes, reason: str) -> None:
    assert scan_bytes(_cassette_with_body(body), secrets={}) == [
        Finding(
            "interaction 0, response, body",
            f"unreadable bytes ({reason}), which cannot be checked for secrets; to record "
            "them anyway, replace the body in a pytest_helios_scrub_interaction hook",
        )
    ]


def test_a_patient_named_like_a_word_of_the_cassette_header_is_no_refusal() -> None:
    """The header comment is the plugin's own constant text: only data can leak."""
    data = dump({"helios": {"format": 1}, "interactions": []})
    assert data.startswith(b"# pytest-helios cassette.")
    for word in ("Check", "Secrets", "pytest-helios"):
        assert scan_bytes(data, secrets={}, identifiers={word: "a patient's name"}) == []
    leaked = dump({"helios": {"format": 1}, "interactions": [{"note": "Check"}]})
    assert scan_bytes(leaked, secrets={}, identifiers={"Check": "a patient's name"}) != []
