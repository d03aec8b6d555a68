"""The cassettes plugin: record and replay a test's Helios traffic (registered by the core plugin).

Its options and ini values, the ``helios_cassette`` marker, the hooks that save a passing test's
cassette and explain a miss, and the ``helios_cassette`` and ``helios_cassette_config`` fixtures.
vcrpy and the recorder are imported inside the fixtures and hooks that need them, so a suite
that uses no cassette pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_helios import _marker, _options, _stash
from pytest_helios.cassettes import config as settings

if TYPE_CHECKING:
    from pytest_helios.cassettes.recorder import CassetteSession

#: Fixtures whose values are keys and secrets: cassettes redact and scan for each of them.
_SECRET_FIXTURES = frozenset(
    {"helios_api_key", "helios_webhook_secret", "revoked_key", "foreign_key"}
)
#: Fixtures that hand out a base URL of the target, and the attribute that holds it: cassettes
#: store interactions with those URLs under the canonical host.
_TARGET_FIXTURES = {"helios_emulator": "url", "helios_account": "base_url"}


def pytest_addoption(parser: pytest.Parser) -> None:
    _options.add_options(parser, settings.OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", settings.MARKER_HELP)
    settings.check_command_line(config)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption(settings.LINT.dest):
        return None
    from pytest_helios.cassettes.lint import lint_for_pytest

    return lint_for_pytest(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker("helios_cassette") is not None
        if marked and names is not None and "helios_cassette" not in names:
            names.append("helios_cassette")  # marked tests get the fixture
    if items:
        settings.mark_clashes(items, items[0].config.rootpath)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A bad ``helios_cassette`` marker errors its own test, naming the problem."""
    __tracebackhide__ = True
    marker = item.get_closest_marker("helios_cassette")
    if marker is not None:
        _marker.at_setup(item, lambda: settings.marker_options(marker.kwargs, marker.args))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if _stash.cassette_session in item.stash:
        from pytest_helios.cassettes.recorder import before_call

        before_call(item)
    result = yield  # a failing test raises here, and its cassette is not saved
    if _stash.cassette_session in item.stash:
        from pytest_helios.cassettes.recorder import save_after_call

        save_after_call(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _stash.cassette_session in item.stash:
        from pytest_helios.cassettes.recorder import annotate_report

        annotate_report(item, report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Cassettes learn the emulator's and the test account's base URLs (stored as the
    canonical host) and every key and secret the helios fixtures hand out (never written)."""
    value = yield  # a fixture that raised raises here: nothing to learn
    name = fixturedef.argname
    if name in _TARGET_FIXTURES:
        from pytest_helios.cassettes.scrub import session_targets

        url = getattr(value, _TARGET_FIXTURES[name], None)
        targets = session_targets(request.config)
        if isinstance(url, str) and url not in targets:
            targets.append(url)
    elif name in _SECRET_FIXTURES and isinstance(value, str):
        from pytest_helios.cassettes.scrub import session_secrets

        session_secrets(request.config).add(str.__str__(value), f"the {name} fixture")
    return value


@pytest.fixture
def helios_cassette_config(request: pytest.FixtureRequest) -> settings.CassetteConfig:
    """Cassette settings (a CassetteConfig from the ini values); override it in a conftest."""
    return settings.from_ini(request.config)


@pytest.fixture
def helios_cassette(
    request: pytest.FixtureRequest, helios_cassette_config: settings.CassetteConfig
) -> Iterator[CassetteSession]:
    """Record or replay this test's HTTP traffic and webhooks in cassettes/<module>/<test>.yaml."""
    from pytest_helios.cassettes.recorder import use_cassette

    with use_cassette(request, helios_cassette_config) as session:
        yield session
