"""``helios emulator``: start the emulator; the same command as ``helios-emulator``.

Every argument after ``emulator`` is handed to ``helios-emulator`` as it is, so both commands
take the same options (``--port``, ``--json``, ...) and print the same URL, key and secret.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ["COMMAND", "register", "run_emulator"]

COMMAND = "emulator"


def register(commands: Any) -> None:
    """List the command in ``helios --help``; `run_emulator` parses its arguments."""
    commands.add_parser(
        COMMAND,
        help="start the emulator on loopback (helios-emulator; see helios emulator --help)",
        add_help=False,
        prefix_chars="\0",  # nothing is parsed here: main hands every argument on
    ).add_argument("arguments", nargs=argparse.REMAINDER)


def run_emulator(argv: Sequence[str]) -> int:
    """Run ``helios-emulator`` with ``argv``; returns its exit status."""
    from pytest_helios.emulator.cli import main

    return main(list(argv))
