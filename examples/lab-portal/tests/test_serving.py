"""``python -m lab_portal`` serves the portal configured from the environment, as it runs in
production (here, pointed at the emulator): a real process, a real port, threads per request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.helios(target="emulator")  # Helios must reach the portal's port
PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path, helios_client, helios_api_key, helios_webhook_secret):
    port = free_port()
    env = {
        **os.environ,
        "HELIOS_BASE_URL": str(helios_client.base_url),
        "HELIOS_API_KEY": helios_api_key,
        "HELIOS_WEBHOOK_SECRETS": f"{helios_webhook_secret}, whsec_previous_secret",
        "LAB_PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LAB_PORTAL_DATABASE": str(tmp_path / "portal.sqlite3"),
        "LAB_PORTAL_PORT": str(port),
    }
    command = [sys.executable, "-m", "lab_portal"]
    process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_the_served_portal_submits_labs_and_stores_the_runs_webhooks(served, labs):
    process, port = served
    url = f"http://127.0.0.1:{port}"
    assert process.stdout.readline() == f"lab portal on {url}, webhooks at {url}/webhooks/helios\n"

    with httpx.Client(base_url=url, timeout=10) as browser:
        submitted = browser.post("/submissions", json={"patientRef": "MRN-7", "labResults": labs})
        assert submitted.status_code == 202
        run_id = submitted.json()["runId"]
        deadline = time.monotonic() + 10
        while (shown := browser.get(f"/submissions/{run_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline, shown
            time.sleep(0.05)

    assert shown["labCount"] == 2
    assert len(shown["steps"]) == 7
