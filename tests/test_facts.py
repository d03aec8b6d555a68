"""The documented facts users assert on: the prices, public as ``pytest_helios.PRICES_USD``."""

from __future__ import annotations

import pytest

import pytest_helios
from pytest_helios import PRICES_USD
from pytest_helios.facts import AGENTS


def test_the_prices_are_the_documented_dollars_per_run_of_each_agent() -> None:
    """helios-api.md section 5: "Pricing: Light **$0.65** per run, Deep **$3.50** per run,
    Lab Results **$0.65** per request"."""
    assert dict(PRICES_USD) == {"light": 0.65, "deep": 3.50, "lab-results": 0.65}
    assert tuple(PRICES_USD) == AGENTS


def test_the_prices_cannot_be_changed_by_a_test() -> None:
    with pytest.raises(TypeError) as refused:
        PRICES_USD["light"] = 0.0  # type: ignore[index]
    assert str(refused.value) == "'mappingproxy' object does not support item assignment"
    assert PRICES_USD["light"] == 0.65


def test_the_top_level_name_is_the_one_the_contract_report_prices_runs_with() -> None:
    from pytest_helios.facts import PRICES_USD as facts_prices

    assert pytest_helios.PRICES_USD is facts_prices
