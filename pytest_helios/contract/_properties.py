"""Hypothesis settings and strategies of the contract suite."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from pytest_helios.contract._support import examples, target_is_live
from pytest_helios.facts import API_KEY_PREFIX

_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))


def property_settings(request: pytest.FixtureRequest) -> Callable[[Any], Any]:
    """Few examples (``--helios-contract-examples``), no example database written to the
    user's project, no deadline (the live API is slow), and no shrinking against the live API
    (shrinking repeats requests, and a request the API wrongly accepts starts a paid run)."""
    phases = [Phase.explicit, Phase.generate]
    if not target_is_live(request):
        phases.append(Phase.shrink)
    return settings(
        max_examples=examples(request.config),
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow],
    )


def unknown_keys() -> st.SearchStrategy[str]:
    """API keys no account has: key-shaped ones, other prefixes and arbitrary visible text
    (at least 8 characters, so that "the answer never echoes it" means something)."""
    key_shaped = st.text(string.ascii_letters + string.digits, min_size=1, max_size=64)
    return st.one_of(
        key_shaped.map(lambda rest: API_KEY_PREFIX + rest),
        key_shaped.map(lambda rest: "sk_test_" + rest),
        key_shaped.map(lambda rest: "Bearer " + API_KEY_PREFIX + rest),
        st.text(_VISIBLE, min_size=8, max_size=80),
    )


def empty_keys() -> st.SearchStrategy[str]:
    """An ``x-api-key`` header that is present but empty (HTTP clients strip spaces)."""
    return st.just("")
