"""The pytest plugin (entry point ``helios``): options, ini values, markers, hooks and fixtures.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pytest_helios
from pytest_helios import _marker, _options

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_helios.client import AsyncHeliosClient, HeliosClient
    from pytest_helios.emulator import Account, HeliosEmulator
    from pytest_helios.webhooks.fakes import WebhookFactory
    from pytest_helios.webhooks.receiver import WebhookReceiver


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_helios import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios", "Helios API testing (pytest-helios)")
    _options.add_options(parser, group)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_options.settings_key] = _options.read(config)
    config.addinivalue_line("markers", _marker.MARKER_HELP)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _marker.skip_for_target(item)


@pytest.hookimpl(tryfirst=True)
def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """Keep keys and secrets masked in assertion explanations: pytest diffs strings by value."""
    import sys

    masking = sys.modules.get("pytest_helios.masking")
    if masking is None:  # no MaskedSecret can exist yet
        return None
    masked = masking.MaskedSecret
    if not (isinstance(left, masked) or isinstance(right, masked)):
        return None
    return [
        f"{left!r} {op} {right!r}",
        "(pytest-helios shows keys and secrets masked, never their values)",
    ]


def pytest_report_header(config: pytest.Config) -> str:
    settings = _options.of(config)
    if settings.live:
        target = f"target=live {settings.base_url}"
    else:
        target = "target=emulator (started on first use)"
    return f"helios: {pytest_helios.__version__}, {target}"


@pytest.fixture
def fake_webhook(request: pytest.FixtureRequest, helios_webhook_secret: str) -> WebhookFactory:
    """Factory of signed fake Helios webhooks: every kind, named variants, whole runs."""
    from pytest_helios import _hooks
    from pytest_helios.webhooks.fakes import WebhookFactory

    return WebhookFactory(
        helios_webhook_secret, customize=_hooks.webhook_customizer(request.config)
    )


# --- target: the embedded emulator by default, the real API with --helios-live ---------------


def _live_only_value(variable: str, needed_for: str) -> str:
    """A value --helios-live reads from the environment; skip naming the variable if unset."""
    import os

    value = os.environ.get(variable, "")
    if not value:
        pytest.skip(f"{variable} is not set: --helios-live needs it for {needed_for}")
    return _masked(value)


def _masked(secret: str) -> str:
    """The secret as a str whose repr is masked, so pytest's tracebacks never show it."""
    from pytest_helios.masking import MaskedSecret

    return MaskedSecret(secret)


def _is_live(request: pytest.FixtureRequest) -> bool:
    return _options.of(request.config).live


@pytest.fixture(scope="session")
def helios_emulator(request: pytest.FixtureRequest) -> Iterator[HeliosEmulator]:
    """The embedded Helios emulator, started on first use, one per session (or xdist worker)."""
    if _is_live(request):
        pytest.skip("helios_emulator needs the embedded emulator, and the target is --helios-live")
    from pytest_helios import _hooks
    from pytest_helios.emulator import HeliosEmulator

    with HeliosEmulator(result_hook=_hooks.emulator_result_hook(request.config)) as emulator:
        yield emulator


@pytest.fixture
def helios_account(request: pytest.FixtureRequest, helios_emulator: HeliosEmulator) -> Account:
    """A fresh emulator account for this test, with its own keys and webhook secret."""
    return helios_emulator.create_account(f"pytest {request.node.nodeid}")


@pytest.fixture
def helios_api_key(request: pytest.FixtureRequest) -> str:
    """An API key of the test account (live: HELIOS_API_KEY)."""
    if _is_live(request):
        return _live_only_value("HELIOS_API_KEY", "the API key of the account under test")
    account: Account = request.getfixturevalue("helios_account")
    return _masked(account.create_key("pytest").value)


@pytest.fixture
def helios_webhook_secret(request: pytest.FixtureRequest) -> str:
    """The test account's current webhook secret (live: HELIOS_WEBHOOK_SECRET)."""
    if _is_live(request):
        return _live_only_value("HELIOS_WEBHOOK_SECRET", "the account's webhook secret")
    account: Account = request.getfixturevalue("helios_account")
    return _masked(account.webhook_secret)


@pytest.fixture
def revoked_key(request: pytest.FixtureRequest) -> str:
    """A key the target refuses as revoked (live: HELIOS_REVOKED_API_KEY)."""
    if _is_live(request):
        return _live_only_value("HELIOS_REVOKED_API_KEY", "a revoked key of the account")
    account: Account = request.getfixturevalue("helios_account")
    key = account.create_key("revoked by pytest")
    account.revoke_key(key)
    return _masked(key.value)


@pytest.fixture
def foreign_key(request: pytest.FixtureRequest) -> str:
    """A valid key of another account, refused by the target (live: HELIOS_FOREIGN_API_KEY)."""
    if _is_live(request):
        return _live_only_value("HELIOS_FOREIGN_API_KEY", "a valid key of a different account")
    emulator: HeliosEmulator = request.getfixturevalue("helios_emulator")
    other = emulator.create_account(f"pytest foreign {request.node.nodeid}")
    return _masked(other.create_key("foreign").value)


def _base_url(request: pytest.FixtureRequest) -> str:
    if _is_live(request):
        return _options.of(request.config).base_url
    account: Account = request.getfixturevalue("helios_account")
    return account.base_url


@pytest.fixture
def helios_client(request: pytest.FixtureRequest, helios_api_key: str) -> Iterator[HeliosClient]:
    """A HeliosClient of the target, ready to call with the test account's key."""
    from pytest_helios import _hooks
    from pytest_helios.client import HeliosClient

    options = _hooks.client_options(request.config)
    with HeliosClient(helios_api_key, base_url=_base_url(request), **options) as client:
        yield client


@pytest.fixture
def helios_async_client(request: pytest.FixtureRequest, helios_api_key: str) -> AsyncHeliosClient:
    """An AsyncHeliosClient of the target, ready to await with the test account's key."""
    from pytest_helios import _hooks
    from pytest_helios.client import AsyncHeliosClient

    options = _hooks.client_options(request.config)
    return AsyncHeliosClient(helios_api_key, base_url=_base_url(request), **options)


@pytest.fixture
def helios_webhook_receiver(request: pytest.FixtureRequest) -> Iterator[WebhookReceiver]:
    """A local webhookUrl endpoint that captures and verifies the test account's deliveries."""
    from pytest_helios.webhooks.receiver import WebhookReceiver

    timeout = (
        _marker.options(request.node).webhook_timeout or _options.of(request.config).webhook_timeout
    )
    if _is_live(request):
        secret = _live_only_value("HELIOS_WEBHOOK_SECRET", "the account's webhook secret")
        receiver = WebhookReceiver(secret, default_timeout=timeout)
    else:
        account: Account = request.getfixturevalue("helios_account")
        receiver = WebhookReceiver(lambda: account.webhook_secret, default_timeout=timeout)
    with receiver:
        yield receiver


# --- contract ---
# The contract suite (``pytest --pyargs pytest_helios.contract``) keeps its recorder in the
# config stash; these hooks only read it, so a run without the suite imports nothing for it.

CONTRACT_REPORT = _options.Option(
    "--helios-contract-report",
    "helios_contract_report",
    "where the contract suite writes its assumptions report "
    "(default: helios-contract-report.md in the rootdir).",
    metavar="PATH",
)
CONTRACT_EXAMPLES = _options.Option(
    "--helios-contract-examples",
    "helios_contract_examples",
    "Hypothesis examples per property in the contract suite (default: 10).",
    metavar="N",
)
if TYPE_CHECKING:
    from pytest_helios.contract._recorder import ContractRecorder

contract_recorder_key: pytest.StashKey[ContractRecorder] = pytest.StashKey()
contract_examples_key = pytest.StashKey[int]()


def _contract_examples(value: object, source: str) -> int:
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise _options.invalid(source, value, "a whole number of examples, 1 or more")
    return int(text)


@pytest.hookimpl(specname="pytest_addoption")
def pytest_addoption_helios_contract(parser: pytest.Parser) -> None:
    group = parser.getgroup("helios")
    for option in (CONTRACT_REPORT, CONTRACT_EXAMPLES):
        group.addoption(option.flag, metavar=option.metavar, default=None, help=option.help)
        parser.addini(option.ini, type="string", default="", help=option.help)


@pytest.hookimpl(specname="pytest_configure")
def pytest_configure_helios_contract(config: pytest.Config) -> None:
    examples = _options.resolve(config, CONTRACT_EXAMPLES, _contract_examples, 10)
    config.stash[contract_examples_key] = examples


@pytest.hookimpl(specname="pytest_sessionfinish", trylast=True)
def pytest_sessionfinish_helios_contract(session: pytest.Session) -> None:
    recorder = session.config.stash.get(contract_recorder_key, None)
    if recorder is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its controller merges and reports
        workeroutput[_CONTRACT_STATE] = recorder.state()
        return
    recorder.lost_workers = session.config.stash.get(_lost_workers_key, [])
    recorder.write_report()


_CONTRACT_STATE = "helios_contract"


@pytest.hookimpl(specname="pytest_testnodedown", optionalhook=True)
def pytest_testnodedown_helios_contract(node: Any, error: object) -> None:
    """pytest-xdist's controller: merge each worker's contract record into one report, and
    remember a worker that ended abnormally (its record never arrives)."""
    state = getattr(node, "workeroutput", {}).get(_CONTRACT_STATE)
    if state is not None:
        from pytest_helios.contract._recorder import recorder_for

        recorder_for(node.config).merge(state)
    elif error is not None:
        lost = node.config.stash.setdefault(_lost_workers_key, [])
        lost.append(str(getattr(node, "workerinput", {}).get("workerid", node)))


_lost_workers_key = pytest.StashKey[list[str]]()


@pytest.hookimpl(specname="pytest_terminal_summary")
def pytest_terminal_summary_helios_contract(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    recorder = config.stash.get(contract_recorder_key, None)
    if recorder is not None and not hasattr(config, "workeroutput"):
        recorder.terminal_summary(terminalreporter)


# --- end contract ---


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
    if items:
        from pytest_helios.cassettes.config import mark_clashes

        mark_clashes(items, items[0].config.rootpath)


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


_CASSETTE_SECRET_FIXTURES = frozenset(
    {"helios_api_key", "helios_webhook_secret", "revoked_key", "foreign_key"}
)


@pytest.hookimpl(hookwrapper=True, specname="pytest_fixture_setup")
def pytest_fixture_setup_cassettes(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, None]:
    """Cassettes learn the emulator's and the test account's base URLs (stored as the
    canonical host) and every key and secret the helios fixtures hand out (never written)."""
    outcome = yield
    name = fixturedef.argname
    targets = {"helios_emulator": "url", "helios_account": "base_url"}
    if outcome.excinfo is not None or (
        name not in targets and name not in _CASSETTE_SECRET_FIXTURES
    ):
        return
    from pytest_helios.cassettes.scrub import session_secrets, session_targets

    value = outcome.get_result()
    if name in targets:
        url = getattr(value, targets[name], None)
        if isinstance(url, str) and url not in session_targets(request.config):
            session_targets(request.config).append(url)
    elif isinstance(value, str):
        session_secrets(request.config).add(str.__str__(value), f"the {name} fixture")


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
