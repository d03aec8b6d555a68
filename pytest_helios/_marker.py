"""The markers' one policy, and the ``helios`` marker.

Markers take keyword arguments only, checked against a keyword-only options dataclass, so that a
typo fails loudly instead of being ignored. A positional argument, an unknown keyword or a bad
value errors the marked test at set-up with one line naming the test, the marker, what was wrong
and what is valid; the other tests of the run go on. The ``helios_cassette`` marker of the
cassettes plugin follows the same policy through :func:`check_keywords` and :func:`at_setup`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from pytest_helios import _options

T = TypeVar("T")

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


def check_keywords(
    marker: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], options: type[Any]
) -> None:
    """A UsageError unless ``@pytest.mark.<marker>(*args, **kwargs)`` passes keywords only, each
    a field of the dataclass ``options``; the message lists the valid arguments."""
    valid = ", ".join(field.name for field in dataclasses.fields(options))
    if args:
        raise pytest.UsageError(
            f"@pytest.mark.{marker} takes keyword arguments only, got positional {args!r}; "
            f"valid arguments: {valid}"
        )
    unknown = sorted(set(kwargs) - {field.name for field in dataclasses.fields(options)})
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{marker} got an unknown argument {unknown[0]!r}; "
            f"valid arguments: {valid}"
        )


def at_setup(item: pytest.Item, check: Callable[[], T]) -> T:
    """``check()``; the UsageError it raises errors this test, its message prefixed by the node
    id, without the plugin's frames in the traceback (the message says it all)."""
    __tracebackhide__ = True
    try:
        return check()
    except pytest.UsageError as error:
        raise pytest.UsageError(f"{item.nodeid}: {error}") from None


def _options_of(item: pytest.Item) -> MarkerOptions:
    __tracebackhide__ = True
    given: dict[str, object] = {}
    for mark in reversed(list(item.iter_markers("helios"))):
        check_keywords("helios", mark.args, mark.kwargs, MarkerOptions)
        given.update(mark.kwargs)
    target = given.get("target")
    timeout = given.get("webhook_timeout")
    if target is not None and target not in TARGETS:
        raise _options.invalid("target of @pytest.mark.helios", target, ", ".join(TARGETS))
    if timeout is not None:
        timeout = _options.parse_seconds(timeout, "webhook_timeout of @pytest.mark.helios")
    return MarkerOptions(target=None if target is None else str(target), webhook_timeout=timeout)


def options(item: pytest.Item) -> MarkerOptions:
    """The merged ``helios`` markers of an item (the closest one wins), validated."""
    __tracebackhide__ = True
    return at_setup(item, lambda: _options_of(item))


def skip_for_target(item: pytest.Item) -> None:
    """Skip an item whose ``helios(target=...)`` is not the run's target."""
    __tracebackhide__ = True
    wanted = options(item).target
    actual = _options.of(item.config).target
    if wanted is not None and wanted != actual:
        pytest.skip(f"marked helios(target={wanted!r}) and the target is {actual}")
