"""The ``helios`` marker: per-test settings, keyword arguments only, checked against the
keyword-only ``MarkerOptions`` so that a typo fails the test loudly instead of being ignored."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from pytest_helios import _options

TARGETS = ("emulator", "live")
MARKER_HELP = (
    "helios(*, target=None, webhook_timeout=None): run the test only against target "
    "'emulator' or 'live' (skipped otherwise); webhook_timeout: seconds "
    "helios_webhook_receiver waits for a final webhook in this test."
)


@dataclass(frozen=True, kw_only=True)
class MarkerOptions:
    target: str | None = None
    webhook_timeout: float | None = None


def options(item: pytest.Item) -> MarkerOptions:
    """The merged ``helios`` markers of an item (the closest one wins), validated."""
    given: dict[str, object] = {}
    for mark in reversed(list(item.iter_markers("helios"))):
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.helios takes keyword arguments only, "
                f"got positional {mark.args!r}"
            )
        given.update(mark.kwargs)
    valid = [f.name for f in dataclasses.fields(MarkerOptions)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.helios got an unknown argument {unknown[0]!r}; "
            f"valid arguments: {', '.join(valid)}"
        )
    target = given.get("target")
    timeout = given.get("webhook_timeout")
    try:
        if target is not None and target not in TARGETS:
            raise _options.invalid("target of @pytest.mark.helios", target, ", ".join(TARGETS))
        if timeout is not None:
            timeout = _options.parse_seconds(timeout, "webhook_timeout of @pytest.mark.helios")
    except pytest.UsageError as error:
        raise pytest.UsageError(f"{item.nodeid}: {error}") from None
    return MarkerOptions(target=None if target is None else str(target), webhook_timeout=timeout)


def skip_for_target(item: pytest.Item) -> None:
    """Skip an item whose ``helios(target=...)`` is not the run's target."""
    wanted = options(item).target
    actual = _options.of(item.config).target
    if wanted is not None and wanted != actual:
        pytest.skip(f"marked helios(target={wanted!r}) and the target is {actual}")
