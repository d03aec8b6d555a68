"""``helios``: one installed command whose help lists every subcommand; ``helios emulator``."""

from __future__ import annotations

import json
import signal
import subprocess

import httpx

import pytest_helios

from .conftest import SCRIPT, helios

COMMANDS = [
    "emulator",
    "accounts",
    "keys",
    "secret",
    "trigger",
    "sign",
    "verify",
    "conformance",
    "openapi",
    "vectors",
]


def test_the_help_lists_every_command_in_order() -> None:
    ran = helios("--help")
    assert ran.status == 0
    assert ran.out.startswith("usage: helios [-h] [--version] COMMAND ...\n")
    listed = [
        line.split()[0]
        for line in ran.out.split("positional arguments:\n", 1)[1].split("options:")[0].splitlines()
        if line.startswith("    ") and not line.startswith("     ")
    ]
    assert listed == COMMANDS


def test_the_version_is_the_package_version() -> None:
    assert helios("--version").out == f"helios {pytest_helios.__version__}\n"


def test_an_unknown_command_is_an_error_listing_the_commands() -> None:
    ran = helios("bogus")
    assert ran.status == 2
    last = ran.err.splitlines()[-1]
    assert last.startswith("helios: error: argument COMMAND: invalid choice: 'bogus' (choose from")
    assert all(f"'{command}'" in last for command in COMMANDS)


def test_a_command_without_its_action_names_what_is_missing() -> None:
    ran = helios("keys")
    assert ran.status == 2
    assert (
        ran.err.splitlines()[-1]
        == "helios keys: error: the following arguments are required: ACTION"
    )


def test_helios_emulator_starts_the_emulator_and_stops_on_sigint() -> None:
    process = subprocess.Popen(
        [str(SCRIPT), "emulator", "--json", "--account", "from-helios"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        facts = json.loads(process.stdout.readline())
        assert facts["url"].startswith("http://127.0.0.1:")
        account = httpx.get(f"{facts['adminUrl']}/accounts/{facts['accountId']}").json()
        assert account["name"] == "from-helios"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_helios_emulator_hands_every_argument_to_helios_emulator() -> None:
    ran = helios("emulator", "--port", "http")
    assert ran.status == 2
    assert ran.err.splitlines()[-1] == (
        "helios-emulator: error: argument --port: "
        "'http' is not a port number (0-65535; 0: any free)"
    )
