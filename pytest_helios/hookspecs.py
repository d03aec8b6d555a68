"""Hooks that a conftest.py or plugin implements to customise pytest-helios.

Every hook here customises an object the plugin is about to use and returns nothing: each
implementation changes the mapping it receives in place, and all implementations run. What they
leave behind is validated: a bad value fails the run with a ``pytest.UsageError`` naming the hook.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec
def pytest_helios_client_options(config: pytest.Config, options: dict[str, Any]) -> None:
    """Customise the keyword arguments of the client that ``helios_client`` and
    ``helios_async_client`` build.

    Called once per client, just before it is built. ``options`` holds ``timeout`` (seconds,
    a positive number), ``rate_limit_retries`` (an int, 0 or more), ``max_retry_wait``
    (seconds) and ``clock`` (``None``: 429 retries really sleep; a
    ``pytest_helios.VirtualClock``: they take no time; the test's ``helios_clock`` when
    it uses that fixture); change them in place. The key and base URL are not in it: they
    come from the target.
    """


@pytest.hookspec
def pytest_helios_scrub_interaction(config: pytest.Config, interaction: dict[str, Any]) -> None:
    """Scrub a recorded interaction further before it is matched or written to a cassette.

    Called twice per interaction, after the built-in scrubbing and in the shape the cassette
    stores: first with ``{"request": {...}}`` before the request is matched (so replay still
    matches after a hook changed it), then with ``{"response": {...}}`` before the cassette is
    written. Change it in place. The built-in rules still apply and the scan of the bytes about
    to be written still runs afterwards, so a hook can add scrubbing but never remove it.
    """


@pytest.hookspec
def pytest_helios_webhook_payload(
    config: pytest.Config, kind: str, payload: dict[str, Any]
) -> None:
    """Customise a payload that ``fake_webhook`` builds, before it is serialized and signed.

    ``kind`` is the delivery's kind: ``"light"``, ``"deep"`` or ``"lab-results"`` (completed
    payloads), ``"status-update"`` or ``"error"``; change ``payload`` in place. It must stay
    valid against the ``webhook`` schema. Fields a test passes explicitly apply after this hook.
    """


@pytest.hookspec
def pytest_helios_emulator_result(
    config: pytest.Config, agent: str, request: dict[str, Any], result: dict[str, Any]
) -> None:
    """Customise the synthetic ``result`` the embedded emulator delivers for a run.

    Called in the emulator when a run completes, with the agent (``"light"``, ``"deep"`` or
    ``"lab-results"``), the request body the run was started with (do not change it) and the
    ``result`` object of the completed webhook, which may be changed in place. The payload must
    stay valid against the webhook schemas: the emulator checks it, and a hook that raises or
    breaks the contract ends the run with an ``error`` webhook (code ``result_hook_failed``)
    whose message says why. It runs in the emulator's thread.
    """
