"""The emulator starts on a free loopback port, runs in-process too, and stops leaving nothing."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading

import httpx
import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request, lab_request

from .conftest import plain_client, post
from .receiver import Receiver

ALONE = """
import json, socket, threading, httpx
from pytest_helios.emulator import HeliosEmulator

before = {t.name for t in threading.enumerate()}
with HeliosEmulator() as emu:
    port = int(emu.url.rsplit(":", 1)[1])
    status = httpx.post(emu.url + "/api/v1/agent").status_code
    with httpx.Client() as client:  # and a delivery's worth of name lookups on the loop
        client.get(emu.url + "/_emulator/accounts")
left = sorted({t.name for t in threading.enumerate()} - before)
with socket.socket() as probe:
    refused = probe.connect_ex(("127.0.0.1", port)) != 0
print(json.dumps({"url": emu.url, "status": status, "threads": left, "refused": refused}))
"""


def test_it_serves_on_a_free_loopback_port_and_releases_it_on_exit() -> None:
    """In a fresh interpreter: no other emulator of this session starts threads meanwhile."""
    done = subprocess.run(
        [sys.executable, "-c", ALONE], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["url"].startswith("http://127.0.0.1:")
    assert seen["status"] == 401
    assert seen["threads"] == []
    assert seen["refused"]


def test_two_emulators_run_side_by_side_on_different_ports() -> None:
    with HeliosEmulator() as first, HeliosEmulator() as second:
        assert first.url != second.url


def test_a_stopped_emulator_says_how_to_use_it() -> None:
    emu = HeliosEmulator()
    assert repr(emu) == "<HeliosEmulator stopped>"
    with pytest.raises(RuntimeError, match="emulator has not been started; use it as a context"):
        emu.create_account("acme")


def test_it_cannot_be_started_twice() -> None:
    with HeliosEmulator() as emu, pytest.raises(RuntimeError, match="already running"):
        emu.start()


def test_a_sync_in_process_transport_needs_no_socket() -> None:
    with HeliosEmulator(serve=False) as emu:
        key = emu.create_account("acme").create_key("ci")
        with plain_client(transport=emu.transport(), base_url=emu.url) as client:
            response = client.post(
                "/api/v1/lab-results", headers={"x-api-key": key.value}, json=lab_request()
            )
    assert emu.url == "http://emulator"
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"


def test_an_async_in_process_transport_needs_no_socket() -> None:
    with HeliosEmulator(serve=False) as emu:
        key = emu.create_account("acme").create_key("ci")

        async def call() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=emu.async_transport(), base_url=emu.url
            ) as client:
                return await client.post(
                    "/api/v1/lab-results", headers={"x-api-key": key.value}, json=lab_request()
                )

        response = asyncio.run(call())
    assert response.status_code == 200


def test_importing_the_emulator_does_not_import_the_server_stack() -> None:
    import subprocess

    code = (
        "import sys, pytest_helios.emulator, pytest_helios; pytest_helios.HeliosEmulator; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_it_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match=re.escape("'0.0.0.0' is not a loopback address; the emu")):
        HeliosEmulator(host="0.0.0.0")


def test_it_can_listen_on_ipv6_loopback() -> None:
    with HeliosEmulator(host="::1") as emu:
        assert emu.url.startswith("http://[::1]:")
        assert post(emu.url + "/api/v1/agent").status_code == 401


def test_after_stopping_its_runs_and_deliveries_stay_readable(receiver: Receiver) -> None:
    with HeliosEmulator() as emu:
        key = emu.create_account("acme").create_key("ci")
        post(
            emu.url + "/api/v1/lab-results",
            headers={"x-api-key": key.value},
            json=lab_request(receiver.url),
        )
        emu.wait_for_deliveries()
    assert repr(emu) == "<HeliosEmulator stopped>"
    assert [run.status for run in emu.runs] == ["completed"]
    assert len(emu.deliveries) == 8
    with (
        plain_client(transport=emu.transport(), base_url=emu.url) as client,
        pytest.raises(RuntimeError, match="the emulator is not running"),
    ):
        client.post("/api/v1/lab-results")


def test_stopping_with_retries_pending_cancels_them_and_leaves_no_thread(
    receiver: Receiver,
) -> None:
    receiver.answer(1, 500)
    threads_before = set(threading.enumerate())
    with HeliosEmulator(delivery_backoff=30) as emu:  # the retry would come 30 s later
        key = emu.create_account("acme").create_key("ci")
        post(
            emu.url + "/api/v1/agent",
            headers={"x-api-key": key.value},
            json=agent_request("light", receiver.url),
        )
        emu.core.active_runs.wait(10)  # the run has ended; its first webhook awaits a retry
        assert not emu.core.deliverer.activity.idle
    # the test receiver's own handler threads may still be finishing a response: not ours
    left = {
        t for t in set(threading.enumerate()) - threads_before if "process_request" not in t.name
    }
    assert left == set()
    assert [a.attempt for a in emu.deliveries if a.sequence_number == 1] == [1]
    assert emu.wait_for_deliveries(timeout=1) == emu.deliveries  # nothing left pending
