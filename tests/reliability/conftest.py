"""The reliability suite: fuzzing, a soak of the emulator, faults while recording, secret safety.

Every test module here sets ``pytestmark = pytest.mark.reliability``, so ``-m reliability`` selects
the suite and ``-m "not reliability"`` leaves it out. Its size comes from the environment:

- ``HELIOS_RELIABILITY=bounded`` (the default, what the normal test run and CI use) or ``full``
  (what ``tox -e reliability`` sets): examples per fuzzed property, soak seconds, kills.
- ``HELIOS_FUZZ_EXAMPLES``, ``HELIOS_SOAK_SECONDS``, ``HELIOS_KILLS`` override one figure each.
- ``HELIOS_RELIABILITY_SUMMARY=<file>`` also writes the run's tally as JSON there.

Each test adds what it tried and what held to a tally, printed at the end of the run as the
table README.md's "Reliability" section quotes.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# what the suite's own tests import, loaded once (pytester's in-process runs unload the rest)
import pytest_helios.cassettes.lint
import pytest_helios.cassettes.recorder  # noqa: F401


@dataclass(frozen=True)
class Scale:
    name: str
    fuzz_examples: int
    soak_seconds: float
    kills: int


_SCALES = {
    "bounded": Scale("bounded", fuzz_examples=150, soak_seconds=20.0, kills=4),
    "full": Scale("full", fuzz_examples=1000, soak_seconds=600.0, kills=10),
}


def scale() -> Scale:
    name = os.environ.get("HELIOS_RELIABILITY", "bounded").strip() or "bounded"
    if name not in _SCALES:
        raise pytest.UsageError(
            f"HELIOS_RELIABILITY={name!r} is not a valid scale. Valid scales: " + ", ".join(_SCALES)
        )
    base = _SCALES[name]

    def number(variable: str, default: float) -> float:
        raw = os.environ.get(variable)
        if raw is None or not raw.strip():
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise pytest.UsageError(f"{variable}={raw!r} is not a positive number")
        return value

    return Scale(
        name,
        fuzz_examples=int(number("HELIOS_FUZZ_EXAMPLES", base.fuzz_examples)),
        soak_seconds=number("HELIOS_SOAK_SECONDS", base.soak_seconds),
        kills=int(number("HELIOS_KILLS", base.kills)),
    )


#: (section, what) -> count, filled by the tests through the ``tally`` fixture
TALLY: Counter[tuple[str, str]] = Counter()
_STARTED = time.time()


@pytest.fixture
def tally() -> Counter[tuple[str, str]]:
    """The run's tally: ``tally["fuzzing", "verify_webhook inputs"] += n``."""
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    current = scale()
    terminalreporter.section("helios reliability summary")
    terminalreporter.write_line(
        f"scale {current.name}: {current.fuzz_examples} examples per fuzzed property, "
        f"soak {current.soak_seconds:g} s, {current.kills} kills; "
        f"{time.time() - _STARTED:.0f} s in all"
    )
    terminalreporter.write_line("| area | what | count |")
    terminalreporter.write_line("|---|---|---:|")
    for (section, what), count in sorted(TALLY.items()):
        terminalreporter.write_line(f"| {section} | {what} | {count:,} |")
    target = os.environ.get("HELIOS_RELIABILITY_SUMMARY")
    if target:
        Path(target).write_text(
            json.dumps(
                {
                    "scale": current.__dict__,
                    "python": platform.python_version(),
                    "seconds": round(time.time() - _STARTED),
                    "tally": [
                        {"area": s, "what": w, "count": c} for (s, w), c in sorted(TALLY.items())
                    ],
                },
                indent=2,
            )
            + "\n"
        )


@pytest.fixture(scope="session")
def reliability_scale() -> Iterator[Scale]:
    yield scale()
