"""``helios sign`` prints a body's signature headers; ``helios verify`` judges a saved delivery."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pytest_helios import (
    MissingHeader,
    SignatureMismatch,
    TimestampOutOfTolerance,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)
from pytest_helios.cli.documents import vectors_path

from .conftest import SECRET, helios

WITH_SECRET = {"HELIOS_WEBHOOK_SECRET": SECRET}
BODY = (
    b'{"runId":"550e8400-e29b-41d4-a716-446655440000","status":"processing","agent":"light",'
    b'"sequenceNumber":2,"step":2,"totalSteps":8,"stepName":"Analyzing health data"}'
)
RUN_ID = "550e8400-e29b-41d4-a716-446655440000"
T = 1737288300


def header_lines(headers: dict[str, str]) -> str:
    return "".join(f"{name}: {value}\n" for name, value in headers.items())


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    return path


def test_sign_prints_the_headers_helios_sends(body_file: Path) -> None:
    ran = helios("sign", str(body_file), "--timestamp", str(T), "--run-id", "run-7",
                 env=WITH_SECRET)  # fmt: skip
    assert (ran.status, ran.err) == (0, "")
    assert ran.out == header_lines(sign_webhook(BODY, SECRET, timestamp=T, run_id="run-7"))


def test_sign_reads_standard_input_and_takes_the_run_id_from_the_body() -> None:
    ran = helios("sign", "-", "--timestamp", str(T), "--secret", SECRET, "--json",
                 stdin=BODY.decode())  # fmt: skip
    assert json.loads(ran.out) == {
        "headers": sign_webhook(BODY, SECRET, timestamp=T, run_id=RUN_ID)
    }


def test_what_sign_prints_verifies(body_file: Path, tmp_path: Path) -> None:
    headers = tmp_path / "headers.txt"
    headers.write_text(helios("sign", str(body_file), env=WITH_SECRET).out, encoding="utf-8")
    ran = helios("verify", str(body_file), "--headers", str(headers), env=WITH_SECRET)
    assert (ran.status, ran.err) == (0, "")
    assert ran.out == (
        f"verified: runId {RUN_ID}, sequenceNumber 2, status processing, agent light\n"
    )


def test_a_headers_file_may_hold_the_request_line_blank_lines_and_crlf(
    body_file: Path, tmp_path: Path
) -> None:
    signed = sign_webhook(BODY, SECRET, timestamp=T, run_id=RUN_ID)
    headers = tmp_path / "headers.txt"
    lines = ["POST /webhooks/helios HTTP/1.1", *header_lines(signed).splitlines(), "", ""]
    headers.write_bytes("\r\n".join(lines).encode())
    ran = helios("verify", str(body_file), "--headers", str(headers), "--now", str(T + 300),
                 "--json", env=WITH_SECRET)  # fmt: skip
    assert json.loads(ran.out) == {
        "verified": True,
        "runId": RUN_ID,
        "sequenceNumber": 2,
        "status": "processing",
        "agent": "light",
    }


def rejection(body: bytes, headers: object, now: int) -> WebhookVerificationError:
    """What verify_webhook raises for this delivery: the command reports the same."""
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(body, headers, SECRET, now=now)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("body", "now", "drop", "error"),
    [
        (BODY + b" ", T, None, SignatureMismatch),
        (BODY, T + 301, None, TimestampOutOfTolerance),
        (BODY, T, "X-Helios-Signature", MissingHeader),
    ],
    ids=["tampered-body", "stale", "missing-signature"],
)
def test_verify_rejects_naming_the_error_and_its_reason(
    tmp_path: Path, body: bytes, now: int, drop: str | None, error: type[Exception]
) -> None:
    headers = sign_webhook(BODY, SECRET, timestamp=T, run_id=RUN_ID)
    if drop is not None:
        del headers[drop]
    saved = tmp_path / "delivery.json"
    saved.write_text(json.dumps({"body": body.decode(), "headers": headers}), encoding="utf-8")
    expected = rejection(body, headers, now)
    assert isinstance(expected, error)

    ran = helios("verify", str(saved), "--now", str(now), env=WITH_SECRET)
    assert (ran.status, ran.out, ran.err) == (
        1,
        f"rejected: {error.__name__} ({expected.reason}): {expected}\n",
        "",
    )
    as_json = helios("verify", str(saved), "--now", str(now), "--json", env=WITH_SECRET)
    assert json.loads(as_json.out) == {
        "verified": False,
        "error": error.__name__,
        "reason": expected.reason,
        "message": str(expected),
    }


def test_verify_accepts_any_of_several_secrets_during_a_rotation(tmp_path: Path) -> None:
    headers = sign_webhook(BODY, SECRET, timestamp=T, run_id=RUN_ID)
    saved = tmp_path / "delivery.json"
    saved.write_text(json.dumps({"body": BODY.decode(), "headers": headers}), encoding="utf-8")
    ran = helios("verify", str(saved), "--now", str(T), "--secret", "whsec_new", "--secret",
                 SECRET)  # fmt: skip
    assert ran.status == 0
    assert helios("verify", str(saved), "--now", str(T), "--secret", "whsec_new").status == 1


def test_a_published_vector_is_a_json_delivery_verify_reads(tmp_path: Path) -> None:
    """A verification vector has body_base64 and headers: ``helios verify`` takes it as it is."""
    vectors = json.loads(vectors_path().read_text(encoding="utf-8"))["verification"]
    for vector in vectors:
        if vector["error"] is None and len(vector["secrets"]) == 1:
            break
    saved = tmp_path / "vector.json"
    saved.write_text(json.dumps(vector), encoding="utf-8")
    ran = helios("verify", str(saved), "--now", str(vector["now"]), "--tolerance",
                 str(vector["tolerance"]), "--secret", vector["secrets"][0], "--json")  # fmt: skip
    payload = json.loads(base64.b64decode(vector["body_base64"]))
    assert json.loads(ran.out)["runId"] == payload.get("runId")
    assert ran.status == 0


def test_header_pairs_and_body_base64_carry_what_an_object_and_text_cannot(
    tmp_path: Path,
) -> None:
    headers = sign_webhook(b"\xff\xfe", SECRET, timestamp=T, run_id="r")
    saved = tmp_path / "delivery.json"
    saved.write_text(
        json.dumps(
            {
                "body_base64": base64.b64encode(b"\xff\xfe").decode(),
                "headers": [[name, value] for name, value in headers.items()],
            }
        ),
        encoding="utf-8",
    )
    ran = helios("verify", str(saved), "--now", str(T), env=WITH_SECRET)
    expected = rejection(b"\xff\xfe", list(headers.items()), T)
    assert (ran.status, ran.out) == (1, f"rejected: MalformedBody (malformed-body): {expected}\n")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"delivery.json": b"{}"},
            "{d}/delivery.json is not a JSON delivery "
            '({{"body": "...", "headers": {{...}}}}, or "body_base64" for bytes); '
            "for a raw body, give its headers with --headers HEADERS_FILE",
        ),
        (
            {"delivery.json": b'{"body_base64": "%%%", "headers": {}}'},
            '{d}/delivery.json: "body_base64" is not base64',
        ),
        (
            {"delivery.json": b'{"body": "x", "headers": {"a": 1}}'},
            '{d}/delivery.json: "headers" must be an object of strings or a list of '
            "[name, value] pairs",
        ),
        (
            {"delivery.json": BODY, "headers.txt": b"X-Helios-Timestamp: 1\nno colon here\n"},
            "{d}/headers.txt, line 2: expected `Name: value`, got 'no colon here'",
        ),
        ({}, "cannot read {d}/delivery.json: No such file or directory"),
    ],
    ids=["not-a-delivery", "bad-base64", "bad-headers", "bad-header-line", "missing-file"],
)
def test_an_unreadable_delivery_says_what_is_wrong_with_it(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    headers = ["--headers", str(tmp_path / "headers.txt")] if "headers.txt" in files else []
    ran = helios("verify", str(tmp_path / "delivery.json"), *headers, env=WITH_SECRET)
    assert (ran.status, ran.out) == (2, "")
    assert ran.err == f"helios verify: error: {message.format(d=tmp_path)}\n"


def test_sign_and_verify_need_a_secret(body_file: Path) -> None:
    for command in ("sign", "verify"):
        ran = helios(command, str(body_file))
        assert ran.err == (
            f"helios {command}: error: no webhook secret: pass --secret SECRET or set "
            "HELIOS_WEBHOOK_SECRET\n"
        )


def test_a_run_id_that_cannot_be_a_header_is_refused(body_file: Path) -> None:
    ran = helios("sign", str(body_file), "--run-id", "run\tone", env=WITH_SECRET)
    assert ran.status == 2
    assert ran.err.splitlines()[-1] == (
        "helios sign: error: argument --run-id: 'run\\tone' is not printable ASCII"
    )
