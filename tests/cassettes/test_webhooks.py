"""Webhooks too: recording against the emulator captures the run's deliveries beside the
cassette; replay re-signs them with the test's secret and a fresh timestamp and delivers
them to the webhookUrl the test sent, so the whole asynchronous flow replays offline."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from pytest_helios import HeliosEmulator
from pytest_helios.cassettes.lint import main as lint_main
from tests.cassettes.helpers import write_project

FLOW_TEST = """
    import json, os, time, httpx, pytest
    from tests.cassettes.helpers import Receiver
    from pytest_helios import verify_webhook

    @pytest.mark.helios_cassette
    def test_a_whole_run(helios_cassette):
        secret = os.environ["HELIOS_WEBHOOK_SECRET"]
        with Receiver() as handler:
            payload = {**LAB_REQUEST, "patientContext": {"name": "Ruth Abernathy-Quist"},
                       "webhookUrl": handler.url}
            with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
                accepted = client.post(URL + "/api/v1/lab-results", json=payload).json()
            deadline = time.monotonic() + 10
            while len(handler.deliveries) < 8 and time.monotonic() < deadline:
                time.sleep(0.05)
        payloads = [verify_webhook(body, headers, secret) for body, headers in handler.deliveries]
        assert [p["sequenceNumber"] for p in payloads] == list(range(1, 9))
        assert payloads[-1]["status"] == "completed"
        assert payloads[-1]["runId"] == accepted["runId"]
"""
#: The same flow delivering the replayed webhooks itself, with their replay turned off.
MANUAL_FLOW_TEST = FLOW_TEST.replace(
    """            deadline = time.monotonic() + 10""",
    """            if not helios_cassette.recording:
                assert helios_cassette.deliver_webhooks(handler.url, secret) == [200] * 8
            deadline = time.monotonic() + 10""",
)


def test_recording_captures_the_runs_deliveries_beside_the_cassette(
    pytester: pytest.Pytester, emulator: HeliosEmulator
) -> None:
    write_project(pytester, emulator.url, FLOW_TEST)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    capture = pytester.path / "cassettes" / "test_api" / "test_a_whole_run.webhooks.yaml"
    deliveries = yaml.safe_load(capture.read_text())["deliveries"]
    assert [d["sequence_number"] for d in deliveries] == list(range(1, 9))
    final = json.loads(deliveries[-1]["body"])
    assert final["status"] == "completed"
    written = capture.read_bytes() + capture.with_name("test_a_whole_run.yaml").read_bytes()
    assert b"Abernathy" not in written
    assert b"x-helios-signature" not in written.lower()
    assert lint_main(["lint", str(capture.parent)]) == 0  # cassette and capture both clean


def test_replay_re_signs_the_deliveries_with_the_tests_secret_and_delivers_them_offline(
    pytester: pytest.Pytester, emulator: HeliosEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, emulator.url, FLOW_TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    emulator.stop()
    monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", "whsec_a_different_secret_for_replay")

    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("where", ["marker", "ini"])
def test_with_replay_webhooks_off_a_test_delivers_the_recorded_webhooks_itself(
    pytester: pytest.Pytester, emulator: HeliosEmulator, where: str
) -> None:
    tests, ini = MANUAL_FLOW_TEST, "helios_replay_webhooks = false"
    if where == "marker":
        tests, ini = (
            tests.replace("helios_cassette\n", "helios_cassette(replay_webhooks=False)\n"),
            "",
        )
    write_project(pytester, emulator.url, tests, ini=ini)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    emulator.stop()

    pytester.runpytest().assert_outcomes(passed=1)  # 8 deliveries, not 16


NO_SECRET_TEST = """
    import os, time, httpx, pytest
    from tests.cassettes.helpers import Receiver

    @pytest.mark.helios_cassette
    def test_a_run(helios_cassette):
        with Receiver() as handler:
            payload = {**LAB_REQUEST, "webhookUrl": handler.url}
            with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
                assert client.post(URL + "/api/v1/lab-results", json=payload).status_code == 200
            deadline = time.monotonic() + 10
            while helios_cassette.recording and len(handler.deliveries) < 8:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            waits = os.environ.get("WAIT") != "no"
            assert handler.deliveries or not waits, "no delivery arrived"
"""


def test_a_replay_with_no_secret_to_sign_webhooks_says_so_if_the_test_fails_and_else_passes(
    pytester: pytest.Pytester, emulator: HeliosEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, emulator.url, NO_SECRET_TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    cassette = yaml.safe_load((pytester.path / "cassettes/test_api/test_a_run.yaml").read_text())
    run_id = json.loads(cassette["interactions"][0]["response"]["body"]["string"])["runId"]
    emulator.stop()
    monkeypatch.delenv("HELIOS_WEBHOOK_SECRET")

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: no delivery arrived",
            "*- helios cassette -*",
            f"helios: the recorded webhooks of run {run_id} were not replayed: no webhook secret "
            "to sign them with",
            "  the test uses no helios_account, and HELIOS_WEBHOOK_SECRET is not set",
            "  set it, or deliver them yourself: "
            "@pytest.mark.helios_cassette(replay_webhooks=False)",
        ]
    )
    monkeypatch.setenv("WAIT", "no")
    pytester.runpytest().assert_outcomes(passed=1)  # a test that does not wait for them passes


ROOT = Path(__file__).resolve().parents[2]
#: The emulator gone: its accounts exist, nothing answers at its address.
EMULATOR_GONE = """
    import pytest
    from pytest_helios import HeliosEmulator

    @pytest.fixture(scope="session")
    def helios_emulator():
        emulator = HeliosEmulator().start()
        emulator.stop()
        yield emulator
"""


def readme_first_test() -> str:
    """The README's first test, exactly as the Quickstart shows it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- doc-test: first-test test_first.py -->\n", 1)[1]
    return block.split("```python\n", 1)[1].split("\n```", 1)[0] + "\n"


def test_the_readmes_first_test_marked_helios_cassette_replays_its_webhooks_with_the_emulator_gone(
    pytester: pytest.Pytester,
) -> None:
    first = readme_first_test()
    assert "helios_webhook_receiver.wait_for_final(run.run_id)" in first
    marked = first.replace("\ndef test_", "\n@pytest.mark.helios_cassette\ndef test_", 1)
    pytester.makepyfile(test_first="import pytest\n" + marked)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    [capture] = (pytester.path / "cassettes" / "test_first").glob("*.webhooks.yaml")
    assert len(yaml.safe_load(capture.read_text())["deliveries"]) == 8
    pytester.makeconftest(textwrap.dedent(EMULATOR_GONE))

    pytester.runpytest().assert_outcomes(passed=1)


def test_a_recorded_delivery_that_breaks_the_contract_fails_on_replay(
    pytester: pytest.Pytester, emulator: HeliosEmulator
) -> None:
    write_project(pytester, emulator.url, FLOW_TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    capture = pytester.path / "cassettes" / "test_api" / "test_a_whole_run.webhooks.yaml"
    capture.write_text(capture.read_text().replace('"status": "completed"', '"status": "done"'))

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*  delivery 7 (webhook): *"])


CAPTURE_TEST = """
    import os, pytest
    from pytest_helios import verify_webhook

    @pytest.mark.helios_cassette
    def test_live_deliveries(helios_cassette, fake_webhook):
        secret = os.environ["HELIOS_WEBHOOK_SECRET"]
        if helios_cassette.recording:  # as a receiver of the live API's deliveries would
            delivery = fake_webhook("status-update")
            helios_cassette.capture_webhook(delivery.body, delivery.header_dict())
            page = b"<html>" + os.environ["HELIOS_API_KEY"].encode()
            with pytest.raises(ValueError) as excinfo:
                helios_cassette.capture_webhook(page, {})
            print("REFUSED:", excinfo.value)
        else:
            [(body, headers)] = helios_cassette.signed_webhooks(secret)
            assert verify_webhook(body, headers, secret)["status"] == "processing"
"""


def test_capture_webhook_keeps_a_receivers_delivery_and_refuses_a_body_that_is_none(
    pytester: pytest.Pytester, emulator: HeliosEmulator
) -> None:
    write_project(pytester, emulator.url, CAPTURE_TEST)

    recorded = pytester.runpytest("--helios-record-mode=once", "-s")

    recorded.assert_outcomes(passed=1)
    assert (
        "REFUSED: helios: capture_webhook takes a Helios webhook delivery, whose body is a "
        "JSON object; got '<html>[REDACTED]' (scrubbed). Nothing was captured."
    ) in recorded.stdout.str()
    capture = pytester.path / "cassettes" / "test_api" / "test_live_deliveries.webhooks.yaml"
    [delivery] = yaml.safe_load(capture.read_text())["deliveries"]
    assert delivery["sequence_number"] == 1
    pytester.runpytest().assert_outcomes(passed=1)


TWO_TESTS = """
    import pytest
    from tests.cassettes.helpers import Gate

    LAB = [{"name": "eGFR", "value": "38 mL/min/1.73m2", "flag": "Low"}]
    earlier = {}

    def test_a_starts_a_run_whose_deliveries_wait(helios_client):
        gate = earlier["gate"] = Gate().start()
        run = helios_client.submit_lab_results(lab_results=LAB, webhook_url=gate.url)
        earlier["run_id"] = run.run_id

    @pytest.mark.helios_cassette
    def test_b_records_its_own_run(helios_client, helios_webhook_receiver, helios_emulator):
        if "gate" in earlier:  # the run of test a delivers while this test records
            earlier["gate"].opened.set()
        receiver = helios_webhook_receiver
        run = helios_client.submit_lab_results(lab_results=LAB, webhook_url=receiver.url)
        assert receiver.wait_for_final(run.run_id)["status"] == "completed"
        if "gate" in earlier:
            helios_emulator.wait_for_deliveries(run_id=earlier["run_id"])
            assert len(earlier["gate"].received) >= 8  # each of its webhooks, a retry maybe
            earlier.pop("gate").close()
"""


def test_a_capture_holds_the_deliveries_of_its_own_tests_runs_only(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_api=textwrap.dedent(TWO_TESTS))

    pytester.runpytest("-p", "no:randomly", "--helios-record-mode=once").assert_outcomes(passed=2)

    folder = pytester.path / "cassettes" / "test_api"
    cassette = yaml.safe_load((folder / "test_b_records_its_own_run.yaml").read_text())
    [accepted] = cassette["interactions"]
    run_id = json.loads(accepted["response"]["body"]["string"])["runId"]
    capture = yaml.safe_load((folder / "test_b_records_its_own_run.webhooks.yaml").read_text())
    captured = [(d["run_id"], d["sequence_number"]) for d in capture["deliveries"]]
    assert captured == [(run_id, n) for n in range(1, 9)]


SENDS_TEST = """
    import pytest
    from tests.cassettes.helpers import Receiver

    @pytest.mark.helios_cassette
    def test_my_handler_gets_every_delivery_i_send(fake_webhook):
        variants = fake_webhook("light").variants()
        assert {"json-array-body", "non-utf8-body"} <= {v.name for v in variants}
        with Receiver() as handler:
            answers = [v.send(handler.url).status_code for v in variants]
            answers += [r.status_code for r in fake_webhook.run("lab-results").send(handler.url)]
        assert answers == [200] * len(answers)
        assert len(handler.deliveries) == len(answers)
"""


@pytest.mark.parametrize("mode", ["once", "none"])
def test_fake_deliveries_a_test_sends_its_own_handler_arrive_the_same_recording_or_not(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_api=textwrap.dedent(SENDS_TEST))

    pytester.runpytest(f"--helios-record-mode={mode}").assert_outcomes(passed=1)

    assert not (pytester.path / "cassettes").exists()  # no Helios call, no run of its own
