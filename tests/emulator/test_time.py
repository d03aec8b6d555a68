"""Runs end at once by default, or take their documented minutes on a scaled clock."""

from __future__ import annotations

import httpx
import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request, lab_request

from .conftest import plain_client, post
from .receiver import Receiver


def test_by_default_a_run_has_ended_once_its_deliveries_are_settled(
    emulator: HeliosEmulator, client: httpx.Client, receiver: Receiver
) -> None:
    run_id = client.post("/api/v1/agent", json=agent_request("light", receiver.url)).json()["runId"]
    emulator.wait_for_deliveries()
    run = emulator.run(run_id)
    assert run.status == "completed"
    assert run.finished_at is not None and run.finished_at >= run.accepted_at


def test_on_a_scaled_clock_runs_stay_active_and_fill_the_concurrency_limit(
    receiver: Receiver,
) -> None:
    # time_scale=0.01: a light run takes 3.9 s instead of 6.5 min, far longer than 8 requests
    with HeliosEmulator(time_scale=0.01) as emu:
        key = emu.create_account("acme").create_key("ci")
        with plain_client(base_url=emu.url, headers={"x-api-key": key.value}) as client:
            answers = [
                client.post("/api/v1/agent", json=agent_request("light", receiver.url))
                for _ in range(8)
            ]
        statuses = [a.status_code for a in answers]
        active = [a.headers["X-Concurrent-Active"] for a in answers]
        running = [run.status for run in emu.runs]
    assert statuses == [200] * 7 + [429]
    assert active == ["1", "2", "3", "4", "5", "6", "7", "7"]
    assert set(running) <= {"accepted", "processing"}


def test_on_a_scaled_clock_runs_still_deliver_every_step_in_order(receiver: Receiver) -> None:
    # time_scale=0.0005: a light run takes about 0.2 s, a deep one about 0.35 s
    with HeliosEmulator(time_scale=0.0005) as emu:
        key = emu.create_account("acme").create_key("ci")
        with plain_client(base_url=emu.url, headers={"x-api-key": key.value}) as client:
            ids = [
                client.post("/api/v1/agent", json=agent_request(kind, receiver.url)).json()["runId"]
                for kind in ("light", "deep", "light")
            ]
        emu.wait_for_deliveries()
        for run_id in ids:
            log = emu.deliveries_for(run_id)
            assert [a.sequence_number for a in log] == list(range(1, len(log) + 1))
            assert [a.sent_at for a in log] == sorted(a.sent_at for a in log)
            assert emu.run(run_id).status == "completed"
        assert [len(emu.deliveries_for(run_id)) for run_id in ids] == [9, 8, 9]


def test_stopping_the_emulator_cancels_unfinished_runs(receiver: Receiver) -> None:
    with HeliosEmulator(time_scale=1.0) as emu:
        key = emu.create_account("acme").create_key("ci")
        post(
            emu.url + "/api/v1/agent",
            headers={"x-api-key": key.value},
            json=agent_request("deep", receiver.url),
        )
        (run,) = emu.runs
    assert run.status == "cancelled"
    assert run.ended


def test_waiting_for_a_run_longer_than_the_timeout_says_which_run(receiver: Receiver) -> None:
    with HeliosEmulator(time_scale=1.0) as emu:
        key = emu.create_account("acme").create_key("ci")
        run_id = post(
            emu.url + "/api/v1/lab-results",
            headers={"x-api-key": key.value},
            json=lab_request(receiver.url),
        ).json()["runId"]
        with pytest.raises(
            TimeoutError, match=f"run {run_id} \\(lab-results\\) did not end within"
        ):
            emu.wait_for_deliveries(timeout=0.05)


def test_a_negative_time_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="time_scale must be 0 or more, got -1"):
        HeliosEmulator(time_scale=-1)
