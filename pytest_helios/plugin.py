"""The pytest plugin (entry point ``helios``): options, ini values, markers and fixtures.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

import pytest

import pytest_helios


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    group.addoption(
        "--helios-live",
        action="store_true",
        default=None,
        help="target the real Helios API with HELIOS_API_KEY instead of the embedded emulator "
        "(ini: helios_live).",
    )
    parser.addini(
        "helios_live",
        type="bool",
        default=False,
        help="target the real Helios API instead of the embedded emulator.",
    )


def _target(config: pytest.Config) -> str:
    live = config.getoption("helios_live")
    if live is None:
        live = config.getini("helios_live")
    return "live" if live else "emulator"


def pytest_report_header(config: pytest.Config) -> str:
    return f"helios: {pytest_helios.__version__}, target={_target(config)}"
