"""The core pytest plugin (entry point ``helios``): the core options, the ``helios`` marker, the
report header and the fixtures. It registers the feature plugins, each a module with its hooks
under their real names: ``pytest_helios.cassettes.plugin`` (record and replay) and
``pytest_helios.contract.plugin`` (the contract suite's options and report). ``-p no:helios``
turns all three off.

Everything heavy (vcrpy, jsonschema, hypothesis, the emulator's server) is imported inside the
fixtures and hooks that need it, so a suite that never uses a helios fixture pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import pytest_helios
from pytest_helios import _marker, _options, _stash

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_helios.client import AsyncHeliosClient, HeliosClient, VirtualClock
    from pytest_helios.emulator import Account, HeliosEmulator
    from pytest_helios.webhooks.fakes import WebhookFactory
    from pytest_helios.webhooks.receiver import WebhookReceiver

#: The feature plugins, registered with this one (pytest reads ``pytest_plugins`` of every
#: plugin module it registers), in the order their options appear in ``pytest --help``.
pytest_plugins = ("pytest_helios.cassettes.plugin", "pytest_helios.contract.plugin")


# --- the target: the embedded emulator by default, the real API with --helios-live ------------


def _masked(secret: str) -> str:
    """The secret as a str whose repr is masked, so pytest's tracebacks never show it."""
    from pytest_helios.masking import MaskedSecret

    return MaskedSecret(secret)


def _live_only_value(variable: str, needed_for: str) -> str:
    """A value --helios-live reads from the environment; skip naming the variable if unset."""
    import os

    value = os.environ.get(variable, "")
    if not value:
        pytest.skip(f"{variable} is not set: --helios-live needs it for {needed_for}")
    return _masked(value)


def _is_live(request: pytest.FixtureRequest) -> bool:
    return _options.of(request.config).live


def _base_url(request: pytest.FixtureRequest) -> str:
    if _is_live(request):
        return _options.of(request.config).base_url
    account: Account = request.getfixturevalue("helios_account")
    return account.base_url


# --- hooks ------------------------------------------------------------------------------------


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_helios import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    _options.add_options(parser, _options.OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_stash.settings] = _options.read(config)
    config.addinivalue_line("markers", _marker.MARKER_HELP)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked for the other target; a bad ``helios`` marker errors the test."""
    __tracebackhide__ = True
    _marker.skip_for_target(item)


@pytest.hookimpl(tryfirst=True)
def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """Keep keys and secrets masked in assertion explanations: pytest diffs strings by value.

    When an operand is a ``MaskedSecret`` or holds a key-shaped string, both operands are shown
    masked (pytest's diff would print the other one whole, key included).
    """
    from pytest_helios.masking import explain_comparison

    return explain_comparison(op, left, right)


def pytest_report_header(config: pytest.Config) -> str:
    settings = _options.of(config)
    if settings.live:
        target = f"target=live {settings.base_url}"
    else:
        target = "target=emulator (started on first use)"
    return f"helios: {pytest_helios.__version__}, {target}"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def helios_emulator(request: pytest.FixtureRequest) -> Iterator[HeliosEmulator]:
    """The embedded Helios emulator, started on first use, one per session (or xdist worker)."""
    if _is_live(request):
        pytest.skip("helios_emulator needs the embedded emulator, and the target is --helios-live")
    from pytest_helios import _hooks
    from pytest_helios.emulator import HeliosEmulator

    settings = _options.of(request.config)
    with HeliosEmulator(
        result_hook=_hooks.emulator_result_hook(request.config),
        webhook_hosts=settings.webhook_hosts,  # --helios-webhook-hosts: loopback only by default
        unknown_fields=settings.unknown_fields,  # --helios-unknown-fields: strict by default
        serve=settings.emulator_transport == "http",  # in-process: no socket at all
    ) as emulator:
        yield emulator


@pytest.fixture
def helios_account(
    request: pytest.FixtureRequest, helios_emulator: HeliosEmulator
) -> Iterator[Account]:
    """A fresh emulator account for this test, with its own keys and webhook secret.

    When the test ends the emulator forgets it: the account, its keys and its settled runs
    and deliveries (runs still playing are forgotten once they settle), so a long session
    does not grow.
    """
    account = helios_emulator.create_account(f"pytest {request.node.nodeid}")
    yield account
    helios_emulator.forget_account(account)


@pytest.fixture
def helios_clock() -> VirtualClock:
    """A virtual clock for this test: the 429 retries of ``helios_client`` and
    ``helios_async_client`` sleep on it, taking no real time; ``.slept`` lists every wait and
    ``.call_at(when, callback)`` changes the emulator when the clock gets there."""
    from pytest_helios.client import VirtualClock

    return VirtualClock()


def _client_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The client's keyword arguments: the hooks' options, the test's clock, and the emulator's
    in-process transport when ``helios_emulator_transport = in-process``."""
    from pytest_helios import _hooks

    clock = (
        request.getfixturevalue("helios_clock") if "helios_clock" in request.fixturenames else None
    )
    return dict(_hooks.client_options(request.config, clock))


def _in_process(request: pytest.FixtureRequest) -> HeliosEmulator | None:
    if _is_live(request) or _options.of(request.config).emulator_transport == "http":
        return None
    emulator: HeliosEmulator = request.getfixturevalue("helios_emulator")
    return emulator


@pytest.fixture
def helios_base_url(request: pytest.FixtureRequest) -> str:
    """The target's base URL: the test account's on the emulator, --helios-base-url live."""
    return _base_url(request)


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
    request.addfinalizer(lambda: emulator.forget_account(other))
    return _masked(other.create_key("foreign").value)


@pytest.fixture
def helios_client(request: pytest.FixtureRequest, helios_api_key: str) -> Iterator[HeliosClient]:
    """A HeliosClient of the target, ready to call with the test account's key."""
    from pytest_helios.client import HeliosClient

    options = _client_options(request)
    emulator = _in_process(request)
    if emulator is not None:
        options["transport"] = emulator.transport()
    with HeliosClient(helios_api_key, base_url=_base_url(request), **options) as client:
        yield client


@pytest.fixture
def helios_async_client(request: pytest.FixtureRequest, helios_api_key: str) -> AsyncHeliosClient:
    """An AsyncHeliosClient of the target, ready to await with the test account's key."""
    from pytest_helios.client import AsyncHeliosClient

    options = _client_options(request)
    emulator = _in_process(request)
    if emulator is not None:
        options["transport"] = emulator.async_transport()
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


@pytest.fixture
def fake_webhook(request: pytest.FixtureRequest, helios_webhook_secret: str) -> WebhookFactory:
    """Factory of signed fake Helios webhooks: every kind, named variants, whole runs."""
    from pytest_helios import _hooks
    from pytest_helios.webhooks.fakes import WebhookFactory

    return WebhookFactory(
        helios_webhook_secret, customize=_hooks.webhook_customizer(request.config)
    )
