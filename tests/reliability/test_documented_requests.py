"""No false refusal at scale: 400 requests of every documented shape
(``pytest_helios.payloads.strategies``) recorded one cassette each in random order, then
replayed in another random order and one by one: none refused, none missed.

The harness is the quick suite's (tests/cassettes/test_no_false_refusal.py), which records a
dozen. ``HELIOS_DOCUMENTED_REQUESTS`` and ``HELIOS_REPLAYED_ALONE`` change the figures.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
)
from tests.cassettes.test_no_false_refusal import Outcome, record_and_replay

from .conftest import TALLY

pytestmark = pytest.mark.reliability


def _figure(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise pytest.UsageError(f"{variable}={raw!r} is not a positive whole number")
    return int(raw)


def test_400_documented_requests_recorded_and_replayed_are_never_refused_nor_missed(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    count = _figure("HELIOS_DOCUMENTED_REQUESTS", 400)
    alone = min(_figure("HELIOS_REPLAYED_ALONE", 100), count)
    chosen_seed = random.randrange(2**31)
    print(f"documented requests drawn with seed {chosen_seed}")

    outcome = record_and_replay(pytester, server, count, chosen_seed, alone=alone)

    TALLY["no false refusal", "documented requests recorded (random order)"] += outcome.recorded
    TALLY["no false refusal", "replayed in another random order"] += (
        outcome.replayed_in_random_order
    )
    TALLY["no false refusal", "replayed alone"] += outcome.replayed_alone
    TALLY["no false refusal", "writes refused"] += outcome.refused
    TALLY["no false refusal", "replays missed"] += outcome.missed
    assert outcome == Outcome(
        requests=count,
        recorded=count,
        replayed_in_random_order=count,
        replayed_alone=alone,
        refused=0,
        missed=0,
    ), f"seed {chosen_seed}"
