"""Bodies and URLs the scrubber cannot read as plain UTF-8 still never put a secret on disk:
other charsets are scrubbed in their charset, unknown compression is never recorded, and the
scan finds a known secret in its encoded forms."""

from __future__ import annotations

import gzip
import json
import secrets
from urllib.parse import quote

import pytest

from pytest_helios.cassettes.persister import dump
from pytest_helios.cassettes.scan import Finding, scan_bytes
from pytest_helios.cassettes.scrub import BodyNotReadable, Rules, Scrubber, SecretBook


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
