"""The pytest plugin (entry point ``helios``): options, ini values, markers, hooks and fixtures.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pytest_helios
from pytest_helios import _settings

if TYPE_CHECKING:
    from pytest_helios.webhooks import WebhookFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    _settings.add_options(parser, group)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_settings.settings_key] = _settings.read(config)


def pytest_report_header(config: pytest.Config) -> str:
    settings = _settings.of(config)
    if settings.live:
        target = f"target=live {settings.base_url}"
    else:
        target = "target=emulator (started on first use)"
    return f"helios: {pytest_helios.__version__}, {target}"


# provisional: replaced when the emulator-backed account fixtures land
@pytest.fixture
def helios_webhook_secret() -> str:
    """The test account's webhook secret (for now a fresh random secret for each test)."""
    import secrets

    return "whsec_" + secrets.token_hex(24)


# end provisional


@pytest.fixture
def fake_webhook(helios_webhook_secret: str) -> WebhookFactory:
    """Factory of signed fake Helios webhooks: every kind, named variants, whole runs."""
    from pytest_helios.webhooks import WebhookFactory

    return WebhookFactory(helios_webhook_secret)


# --- cassettes ---
# Recording and replay of Helios traffic (pytest_helios/cassettes/). The hooks below use
# ``specname`` so that this block stays self-contained beside the plugin's other hooks.
# Its imports stay here too, for the same reason (they cost nothing at import time).
from collections.abc import Generator, Iterator  # noqa: E402  # block kept self-contained
from typing import Any  # noqa: E402  # block kept self-contained


@pytest.hookimpl(specname="pytest_addoption")
def pytest_addoption_cassettes(parser: pytest.Parser) -> None:
    from pytest_helios.cassettes.config import EXPIRY_ACTIONS, RECORD_MODES

    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    modes = ", ".join(RECORD_MODES)
    group.addoption(
        "--helios-record-mode",
        default=None,
        metavar="MODE",
        help=f"cassette record mode: {modes} (default none; ini: helios_record_mode). "
        "Wins over the helios_cassette marker and the helios_cassette_config fixture.",
    )
    group.addoption(
        "--helios-cassette-dir",
        default=None,
        metavar="DIR",
        help="directory of cassettes, relative to the rootdir (default cassettes; "
        "ini: helios_cassette_dir).",
    )
    group.addoption(
        "--helios-cassette-max-age",
        default=None,
        metavar="DAYS",
        help="cassettes older than DAYS warn or fail on replay (ini: helios_cassette_max_age).",
    )
    group.addoption(
        "--helios-cassette-on-expiry",
        default=None,
        metavar="ACTION",
        help=f"what an expired cassette does: {', '.join(EXPIRY_ACTIONS)} "
        "(default warn; ini: helios_cassette_on_expiry).",
    )
    group.addoption(
        "--helios-lint-cassettes",
        action="store_true",
        default=False,
        help="check every cassette for secrets, identifiers, contract violations and age, "
        "print one line per finding and exit (non-zero on any finding).",
    )
    parser.addini("helios_record_mode", f"cassette record mode: {modes}.", default="none")
    parser.addini("helios_cassette_dir", "directory of cassettes.", default="cassettes")
    parser.addini("helios_cassette_max_age", "maximum cassette age in days.", default="")
    parser.addini("helios_cassette_on_expiry", "expired cassettes: warn or fail.", default="warn")
    parser.addini("helios_scrub_headers", "extra header names holding secrets.", type="linelist")
    parser.addini(
        "helios_scrub_keys",
        "extra JSON keys and query/form parameters holding secrets.",
        type="linelist",
    )
    parser.addini(
        "helios_identifying_keys",
        "extra JSON paths of patient identifiers (e.g. **.guardianName).",
        type="linelist",
    )


@pytest.hookimpl(specname="pytest_configure")
def pytest_configure_cassettes(config: pytest.Config) -> None:
    from pytest_helios.cassettes.config import check_command_line

    config.addinivalue_line(
        "markers",
        "helios_cassette(**options): record or replay this test's Helios traffic in "
        "cassettes/<module>/<test>.yaml; keyword options: record_mode, name, max_age_days, "
        "on_expiry, secret_headers, secret_keys, identifying_keys, contract_check.",
    )
    check_command_line(config)


@pytest.hookimpl(specname="pytest_cmdline_main")
def pytest_cmdline_main_cassettes(config: pytest.Config) -> int | None:
    if not config.getoption("helios_lint_cassettes"):
        return None
    from pytest_helios.cassettes.lint import lint_for_pytest

    return lint_for_pytest(config)


@pytest.hookimpl(specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_cassettes(items: list[pytest.Item]) -> None:
    from pytest_helios.cassettes.config import marker_options

    for item in items:
        marker = item.get_closest_marker("helios_cassette")
        if marker is not None:
            try:
                marker_options(marker.kwargs, marker.args)
            except pytest.UsageError as error:
                raise pytest.UsageError(f"{item.nodeid}: {error}") from None
            names = getattr(item, "fixturenames", None)
            if names is not None and "helios_cassette" not in names:
                names.append("helios_cassette")  # marked tests get the fixture


@pytest.hookimpl(wrapper=True, specname="pytest_runtest_call")
def pytest_runtest_call_cassettes(item: pytest.Item) -> Generator[None, None, None]:
    yield  # a failing test raises here, and its cassette is not saved
    from pytest_helios.cassettes.config import SESSION_KEY

    if SESSION_KEY in item.stash:
        from pytest_helios.cassettes.recorder import save_after_call

        save_after_call(item)


@pytest.hookimpl(hookwrapper=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_cassettes(item: pytest.Item) -> Generator[None, Any, None]:
    outcome = yield
    from pytest_helios.cassettes.config import SESSION_KEY

    if SESSION_KEY in item.stash:
        from pytest_helios.cassettes.recorder import annotate_report

        annotate_report(item, outcome.get_result())


@pytest.fixture
def helios_cassette_config(request: pytest.FixtureRequest) -> Any:
    """Cassette settings (a CassetteConfig from the ini values); override it in a conftest."""
    from pytest_helios.cassettes.config import from_ini

    return from_ini(request.config)


@pytest.fixture
def helios_cassette(request: pytest.FixtureRequest, helios_cassette_config: Any) -> Iterator[Any]:
    """Record or replay this test's HTTP traffic and webhooks in cassettes/<module>/<test>.yaml."""
    from pytest_helios.cassettes.recorder import use_cassette

    with use_cassette(request, helios_cassette_config) as session:
        yield session


# --- end cassettes ---
