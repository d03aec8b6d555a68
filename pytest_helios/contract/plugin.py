"""The contract plugin: the options of the contract suite and its session (registered by the core
plugin).

The suite itself, ``pytest --pyargs pytest_helios.contract``, is the test modules beside this
one and their ``conftest.py``. This plugin reads its options at start-up (a bad value stops the
run) and registers a :class:`~pytest_helios.contract._session.ContractSession` whose hooks merge
the pytest-xdist workers' records and write the report; a run without the suite writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_helios import _options, _stash
from pytest_helios.contract._session import DEFAULT_EXAMPLES, DEFAULT_REPORT, ContractSession

REPORT = _options.Option(
    "--helios-contract-report",
    "helios_contract_report",
    "where the contract suite writes its assumptions report "
    f"(default: {DEFAULT_REPORT} in the rootdir).",
    metavar="PATH",
)
EXAMPLES = _options.Option(
    "--helios-contract-examples",
    "helios_contract_examples",
    f"Hypothesis examples per property in the contract suite (default: {DEFAULT_EXAMPLES}).",
    metavar="N",
)
OPTIONS = (REPORT, EXAMPLES)


def parse_examples(value: object, source: str) -> int:
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise _options.invalid(source, value, "a whole number of examples, 1 or more")
    return int(text)


def report_path(config: pytest.Config) -> Path:
    """``--helios-contract-report`` (or its ini twin), relative to the rootdir."""
    given = _options.resolve(config, REPORT, lambda value, _: str(value), "")
    path = Path(given or DEFAULT_REPORT)
    return path if path.is_absolute() else config.rootpath / path


def pytest_addoption(parser: pytest.Parser) -> None:
    _options.add_options(parser, OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    examples = _options.resolve(config, EXAMPLES, parse_examples, DEFAULT_EXAMPLES)
    session = ContractSession(config, examples=examples, report_path=report_path(config))
    config.stash[_stash.contract] = session
    config.pluginmanager.register(session, "helios-contract-session")
