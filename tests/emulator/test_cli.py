"""`helios-emulator` starts the emulator from a shell and prints a ready key, secret and URL."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_helios.emulator.cli import main
from tests.samples import agent_request

from .conftest import get, post

SCRIPT = str(Path(sys.executable).with_name("helios-emulator"))


@pytest.fixture
def started() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [SCRIPT, "--json", "--account", "cli-account"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_the_command_prints_a_ready_key_secret_and_url_as_json(
    started: subprocess.Popen[str],
) -> None:
    assert started.stdout is not None
    facts = json.loads(started.stdout.readline())
    assert facts["url"].startswith("http://127.0.0.1:")
    assert facts["apiKey"].startswith("sk_live_")
    assert facts["webhookSecret"].startswith("whsec_")
    assert facts["adminUrl"] == facts["url"] + "/_emulator"
    response = post(
        facts["url"] + "/api/v1/agent",
        headers={"x-api-key": facts["apiKey"]},
        json=agent_request("light"),
    )
    assert response.status_code == 200
    account = get(f"{facts['adminUrl']}/accounts/{facts['accountId']}").json()
    assert account["name"] == "cli-account"
    started.send_signal(signal.SIGINT)
    assert started.wait(timeout=10) == 0


def test_the_text_output_names_every_value_and_the_command_stops_on_sigterm() -> None:
    process = subprocess.Popen([SCRIPT], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline().rstrip("\n") for _ in range(7)]
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=10)
    assert lines[0].startswith("Helios emulator ready at http://127.0.0.1:")
    assert [line.split(":", 1)[0].strip() for line in lines[1:6]] == [
        "x-api-key",
        "webhook secret",
        "account",
        "account URL",
        "admin API",
    ]
    assert lines[6] == "These values exist only in this emulator. Press Ctrl+C to stop."
    assert rest == "Helios emulator stopped.\n"
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "argument --host: '0.0.0.0' is not a loopback address"),
        (["--port", "70000"], "argument --port: '70000' is not a port number"),
        (["--time-scale", "-1"], "argument --time-scale: '-1' is not a number of 0 or more"),
        (["--concurrency-limit", "0"], "'0' is not a whole number of 1 or more"),
    ],
)
def test_bad_arguments_are_refused_with_the_option_named(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # in-process: argument parsing needs no subprocess (the ones above prove the script runs)
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_reported_without_a_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [SCRIPT, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"helios-emulator: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr
