"""A Python script in a process of its own, for tests that need the emulator outside theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def script_process(script: str, stderr: Path, stop_within: float) -> Iterator[dict[str, Any]]:
    """Run ``script`` with its standard error in ``stderr`` and yield the JSON object it prints
    first; at the end close its standard input (the script's cue to stop) and wait up to
    ``stop_within`` seconds before killing it."""
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=stop_within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
