"""Calling the pytest_helios_* hooks and validating what implementations leave behind.

A bad value is a ``pytest.UsageError`` that names the hook, the key and the valid values, so a
mistake in a conftest.py fails loudly at the first test that uses it.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pytest


class ClientOptions(TypedDict):
    """Keyword arguments of the clients that ``helios_client``/``helios_async_client`` build."""

    timeout: float
    rate_limit_retries: int
    max_retry_wait: float


_CLIENT_RULES: dict[str, tuple[str, Any]] = {
    # key: (what it must be, check)
    "timeout": ("a number of seconds greater than 0", lambda v: _number(v) and v > 0),
    "rate_limit_retries": ("an int, 0 or more", lambda v: _int(v) and v >= 0),
    "max_retry_wait": ("a number of seconds, 0 or more", lambda v: _number(v) and v >= 0),
}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def client_options(config: pytest.Config) -> ClientOptions:
    """The client options after every ``pytest_helios_client_options`` implementation ran."""
    options: dict[str, Any] = {"timeout": 30.0, "rate_limit_retries": 0, "max_retry_wait": 60.0}
    config.hook.pytest_helios_client_options(config=config, options=options)
    hook = "pytest_helios_client_options"
    unknown = sorted(set(options) - set(_CLIENT_RULES))
    if unknown:
        valid = ", ".join(sorted(_CLIENT_RULES))
        raise pytest.UsageError(f"{hook}: unknown option {unknown[0]!r}; valid options: {valid}")
    for key, (must_be, check) in _CLIENT_RULES.items():
        if key not in options:
            raise pytest.UsageError(f"{hook}: option {key!r} was removed; it must be {must_be}")
        if not check(options[key]):
            raise pytest.UsageError(f"{hook}: {key} = {options[key]!r}; it must be {must_be}")
    return ClientOptions(
        timeout=float(options["timeout"]),
        rate_limit_retries=int(options["rate_limit_retries"]),
        max_retry_wait=float(options["max_retry_wait"]),
    )
