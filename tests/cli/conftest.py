"""Fixtures of the ``helios`` command's tests: the installed script, an emulator, a receiver.

Every command runs as a user runs it: the ``helios`` console script that ``pip install -e .``
put beside this interpreter, in a subprocess, with no ``HELIOS_*`` variable of ours leaking in.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from pytest_helios.emulator import HeliosEmulator
from pytest_helios.webhooks import WebhookReceiver
from tests.loopback import LoopbackServer, QuietHandler

SCRIPT = Path(sys.executable).with_name("helios")
SECRET = "whsec_" + "c1" * 24


@dataclass(frozen=True)
class Ran:
    """What one run of the command did."""

    status: int
    out: str
    err: str


def helios(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Ran:
    """Run the installed ``helios`` script with ``args``; ``env`` adds variables."""
    if not SCRIPT.is_file():
        pytest.fail(f"{SCRIPT} is missing: `pip install -e .` creates the helios script")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HELIOS_")}
    environment.update(env or {})
    done = subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        input=stdin,
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def emulator() -> Iterator[HeliosEmulator]:
    with HeliosEmulator() as emu:
        yield emu


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A verifying webhook endpoint on loopback that knows `SECRET`: 200 or 400."""
    with WebhookReceiver(SECRET) as endpoint:
        yield endpoint


class Recorded(QuietHandler):
    """Answers every POST with ``status`` and keeps its raw body and header pairs."""

    status: ClassVar[int] = 200
    requests: ClassVar[list[tuple[bytes, list[tuple[str, str]]]]] = []

    def do_POST(self) -> None:
        type(self).requests.append((self.body(), list(self.headers.items())))
        self.reply(type(self).status, b"noted")


@dataclass(frozen=True)
class Recording:
    """A running recording endpoint: its URL and every request it got, in order."""

    url: str
    requests: list[tuple[bytes, list[tuple[str, str]]]]


@contextmanager
def recording(status: int) -> Iterator[Recording]:
    """An endpoint on loopback that answers ``status`` to everything and keeps each request."""
    handler = type("RecordedHere", (Recorded,), {"status": status, "requests": []})
    with LoopbackServer(handler) as server:
        yield Recording(server.url + "/hook", handler.requests)


@pytest.fixture
def accepts_everything() -> Iterator[Recording]:
    """A careless endpoint: 200 to any POST, verified or not."""
    with recording(200) as endpoint:
        yield endpoint
