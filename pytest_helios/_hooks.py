"""Calling the pytest_helios_* hooks and validating what implementations leave behind.

A bad value is a ``pytest.UsageError`` that names the hook, the key and the valid values, so a
mistake in a conftest.py fails loudly at the first test that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import pytest


class ClientOptions(TypedDict):
    """Keyword arguments of the clients that ``helios_client``/``helios_async_client`` build."""

    timeout: float
    rate_limit_retries: int
    max_retry_wait: float
    clock: Any  # a VirtualClock, or None: real sleeps


_CLIENT_RULES: dict[str, tuple[str, Any]] = {
    # key: (what it must be, check)
    "timeout": ("a number of seconds greater than 0", lambda v: _number(v) and v > 0),
    "rate_limit_retries": ("an int, 0 or more", lambda v: _int(v) and v >= 0),
    "max_retry_wait": ("a number of seconds, 0 or more", lambda v: _number(v) and v >= 0),
    "clock": (
        "None or a clock with sleep() and asleep(), like a VirtualClock",
        lambda v: _clock(v),
    ),
}


def _clock(value: object) -> bool:
    if value is None:
        return True
    return callable(getattr(value, "sleep", None)) and callable(getattr(value, "asleep", None))


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def client_options(config: pytest.Config, clock: Any = None) -> ClientOptions:
    """The client options after every ``pytest_helios_client_options`` implementation ran;
    ``clock`` is the test's ``helios_clock`` when it uses one."""
    options: dict[str, Any] = {
        "timeout": 30.0,
        "rate_limit_retries": 0,
        "max_retry_wait": 60.0,
        "clock": clock,
    }
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
        clock=options["clock"],
    )


def webhook_customizer(config: pytest.Config) -> Callable[[str, dict[str, Any]], None] | None:
    """What ``fake_webhook`` calls on each payload it builds, or None without implementations.

    After the ``pytest_helios_webhook_payload`` implementations ran, the payload must still be
    valid against the ``webhook`` schema: a hook that breaks it is a UsageError naming the hook
    and the violation. (Fields a test passes explicitly come later and are not checked: tests
    send invalid payloads on purpose.)
    """
    hook = config.hook.pytest_helios_webhook_payload
    if not hook.get_hookimpls():
        return None

    def customize(kind: str, payload: dict[str, Any]) -> None:
        from pytest_helios.exceptions import ContractViolation
        from pytest_helios.payloads.validation import validate

        hook(config=config, kind=kind, payload=payload)
        try:
            validate("webhook", payload)
        except ContractViolation as violation:
            raise pytest.UsageError(
                f"pytest_helios_webhook_payload left an invalid {kind!r} payload: {violation}"
            ) from None

    return customize


def emulator_result_hook(
    config: pytest.Config,
) -> Callable[[str, dict[str, Any], dict[str, Any]], None] | None:
    """What the emulator calls on each completed result, or None without implementations.

    The emulator checks the payload afterwards: a hook that raises or breaks the contract ends
    the run with an error webhook whose message says so (it runs in the emulator's thread,
    where raising into the test is impossible).
    """
    hook = config.hook.pytest_helios_emulator_result
    if not hook.get_hookimpls():
        return None

    def customise(agent: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        hook(config=config, agent=agent, request=request, result=result)

    return customise
