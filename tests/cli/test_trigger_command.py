"""``helios trigger`` sends a signed webhook of any kind or bad variant, or prints it as curl."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess

import pytest

from pytest_helios.webhooks import WebhookFactory, WebhookReceiver

from .conftest import SECRET, Recording, closed_port_url, helios, recording

WITH_SECRET = {"HELIOS_WEBHOOK_SECRET": SECRET}


@pytest.mark.parametrize(
    ("kind", "status", "agent", "sequence_number"),
    [
        ("lab-results-completed", "completed", "lab-results", 8),
        ("light-completed", "completed", "light", 9),
        ("deep-completed", "completed", "deep", 8),
        ("status-update", "processing", "light", 1),
        ("error", "error", "light", 9),
    ],
)
def test_trigger_sends_a_delivery_of_each_kind_that_a_receiver_verifies(
    receiver: WebhookReceiver, kind: str, status: str, agent: str, sequence_number: int
) -> None:
    ran = helios("trigger", kind, "--to", receiver.url, env=WITH_SECRET)
    (delivery,) = receiver.deliveries
    assert delivery.payload is not None
    assert (delivery.payload["status"], delivery.payload["agent"]) == (status, agent)
    assert (ran.status, ran.err) == (0, "")
    assert ran.out == (
        f"Sent a valid {kind} delivery to {receiver.url}\n"
        f"  runId {delivery.run_id} sequenceNumber {sequence_number}: 200 ok (as expected)\n"
    )


def test_trigger_run_sends_a_whole_run_in_order(receiver: WebhookReceiver) -> None:
    ran = helios("trigger", "run", "--agent", "deep", "--to", receiver.url, env=WITH_SECRET)
    assert ran.status == 0
    run_id = receiver.deliveries[0].run_id
    assert run_id is not None
    assert [p["sequenceNumber"] for p in receiver.payloads(run_id)] == list(range(1, 9))
    assert ran.out.splitlines()[0] == f"Sent a whole deep run to {receiver.url}"
    assert len(ran.out.splitlines()) == 9


def test_agent_step_and_run_id_shape_the_delivery(receiver: WebhookReceiver) -> None:
    run_id = "8f14e45f-ceea-467f-a0e6-6f8a1b2c3d4e"
    ran = helios(
        "trigger", "error", "--agent", "lab-results", "--step", "3", "--run-id", run_id,
        "--to", receiver.url, env=WITH_SECRET,
    )  # fmt: skip
    assert ran.status == 0
    (delivery,) = receiver.deliveries
    assert delivery.payload is not None
    assert (delivery.run_id, delivery.payload["agent"], delivery.sequence_number) == (
        run_id,
        "lab-results",
        4,
    )
    assert delivery.headers["X-Helios-Run-ID"] == run_id


def test_a_variant_the_receiver_refuses_is_as_expected(receiver: WebhookReceiver) -> None:
    ran = helios(
        "trigger", "light-completed", "--variant", "tampered-body", "--to", receiver.url,
        env=WITH_SECRET,
    )  # fmt: skip
    (delivery,) = receiver.deliveries
    assert delivery.answered == 400
    assert ran.status == 0
    lines = ran.out.splitlines()
    assert lines[:2] == [
        f"Sent light-completed, variant tampered-body, to {receiver.url}",
        "  the body was changed after signing: a correct receiver rejects it",
    ]
    run_id = delivery.headers["X-Helios-Run-ID"]
    assert lines[2].startswith(f"  runId {run_id} sequenceNumber 9: 400 SignatureMismatch")
    assert lines[2].endswith("(as expected)")


def test_a_receiver_that_accepts_a_bad_variant_makes_the_command_fail(
    accepts_everything: Recording,
) -> None:
    ran = helios(
        "trigger", "status-update", "--variant", "wrong-secret", "--to", accepts_everything.url,
        "--json", env=WITH_SECRET,
    )  # fmt: skip
    assert ran.status == 1
    report = json.loads(ran.out)
    (sent,) = report.pop("deliveries")
    assert report == {
        "kind": "status-update",
        "variant": "wrong-secret",
        "expected": "reject",
        "url": accepts_everything.url,
        "ok": False,
    }
    assert sent == {
        "runId": sent["runId"],
        "sequenceNumber": 1,
        "statusCode": 200,
        "answer": "200 noted",
        "ok": False,
    }
    text = helios(
        "trigger", "status-update", "--variant", "wrong-secret", "--to", accepts_everything.url,
        env=WITH_SECRET,
    )  # fmt: skip
    assert text.out.splitlines()[-1].endswith(": 200 noted (expected a 4xx)")


def test_the_secret_can_be_given_on_the_command_line_and_is_never_printed(
    receiver: WebhookReceiver,
) -> None:
    ran = helios("trigger", "light-completed", "--to", receiver.url, "--secret", SECRET)
    assert ran.status == 0
    curl = helios("trigger", "light-completed", "--to", receiver.url, "--print-curl",
                  "--secret", SECRET)  # fmt: skip
    assert SECRET not in ran.out + ran.err + curl.out + curl.err
    assert len(receiver.deliveries) == 1  # --print-curl sent nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["bogus", "--to", "http://127.0.0.1:1/"],
            "argument KIND: 'bogus' is not a webhook kind; valid kinds: lab-results-completed, "
            "light-completed, deep-completed, status-update, error, run",
        ),
        (
            ["light-completed", "--to", "127.0.0.1:1"],
            "argument --to: '127.0.0.1:1' is not an http:// or https:// URL",
        ),
        (
            ["error", "--agent", "ehr", "--to", "http://127.0.0.1:1/"],
            "argument --agent: 'ehr' is not a valid agent. Valid values: light, deep, lab-results",
        ),
        (
            ["deep-completed", "--agent", "light", "--to", "http://127.0.0.1:1/"],
            "--agent applies to status-update, error, run; deep-completed names its agent",
        ),
        (
            ["run", "--variant", "tampered-body", "--to", "http://127.0.0.1:1/"],
            "--variant applies to one delivery, not to a whole run",
        ),
        (
            ["run", "--step", "9", "--to", "http://127.0.0.1:1/"],
            "--step: fail_at_step must be between 1 and 8, got 9",
        ),
    ],
    ids=["kind", "url", "agent", "agent-of-a-completed-kind", "variant-of-a-run", "step"],
)
def test_a_bad_argument_names_the_option_and_the_valid_values(
    args: list[str], message: str
) -> None:
    ran = helios("trigger", *args, env=WITH_SECRET)
    assert (ran.status, ran.out) == (2, "")
    assert ran.err.splitlines()[-1] == f"helios trigger: error: {message}"


def test_an_unknown_variant_lists_the_variants_of_that_kind() -> None:
    ran = helios("trigger", "status-update", "--variant", "tampered", "--to",
                 "http://127.0.0.1:1/", env=WITH_SECRET)  # fmt: skip
    names = [v.name for v in WebhookFactory(SECRET)("status-update", step=1).variants()]
    assert "out-of-order" not in names  # a first status update has nothing to overtake
    assert (ran.status, ran.err) == (
        2,
        f"helios trigger: error: --variant: no variant 'tampered'; valid variants: "
        f"{', '.join(names)}\n",
    )


def test_no_secret_names_the_option_and_the_variable() -> None:
    ran = helios("trigger", "light-completed", "--to", "http://127.0.0.1:1/")
    assert (ran.status, ran.err) == (
        2,
        "helios trigger: error: no webhook secret: pass --secret SECRET or set "
        "HELIOS_WEBHOOK_SECRET\n",
    )


def test_an_unreachable_receiver_is_named() -> None:
    url = closed_port_url() + "/hook"
    ran = helios("trigger", "light-completed", "--to", url, env=WITH_SECRET)
    assert (ran.status, ran.err) == (
        1,
        f"helios trigger: error: cannot reach {url} (connection refused)\n",
    )


def test_print_curl_json_gives_one_command_per_delivery() -> None:
    ran = helios("trigger", "run", "--print-curl", "--json", "--to", "http://127.0.0.1:1/hook",
                 env=WITH_SECRET)  # fmt: skip
    report = json.loads(ran.out)
    assert [len(report["curl"]), report["expected"], report["variant"]] == [9, "accept", None]
    assert all(command.startswith("curl --silent --show-error --include --request POST --header")
               for command in report["curl"])  # fmt: skip


CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
@pytest.mark.parametrize(
    "variant", ["valid", "non-utf8-body", "empty-signature", "missing-content-type"]
)
def test_the_printed_curl_command_sends_the_same_bytes_and_headers(variant: str) -> None:
    """Run as printed, curl sends the body the signature covers, and exactly the headers."""
    with recording(200) as endpoint:
        ran = helios("trigger", "light-completed", "--variant", variant, "--print-curl",
                     "--to", endpoint.url, env=WITH_SECRET)  # fmt: skip
        assert ran.status == 0
        assert endpoint.requests == []
        sent = subprocess.run(["bash", "-c", ran.out], capture_output=True, check=False)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith(b"HTTP/1.0 200 OK\r\n")
        ((body, headers),) = endpoint.requests
    helios_headers = [(k, v) for k, v in headers if k.lower().startswith("x-helios-")]
    others = {k.lower() for k, _ in headers} - {k.lower() for k, _ in helios_headers}
    names = sorted(k for k, _ in helios_headers)
    assert names == ["X-Helios-Run-ID", "X-Helios-Signature", "X-Helios-Timestamp"]
    signature = dict(helios_headers)["X-Helios-Signature"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    if variant == "empty-signature":
        assert signature == ""
    else:
        assert signature == expected
    assert ("content-type" in others) is (variant != "missing-content-type")
    if variant == "non-utf8-body":
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
