"""How every helios plugin declares its options, and the core plugin's settings.

Each plugin (core, cassettes, contract) lists its options and ini values as :class:`Option`
objects and registers them with :func:`add_options`, all in the one ``helios`` group of
``pytest --help``. Each option a project sets once has an ini twin, and the command line wins.
Settings are read once in ``pytest_configure``; a bad value is a ``pytest.UsageError`` that names
the option as the user wrote it (``--helios-x`` or the ini name), shows the value and lists the
valid ones (:func:`invalid`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pytest

from pytest_helios import _stash, facts

T = TypeVar("T")

GROUP = "helios"
GROUP_DESCRIPTION = "Helios API testing (pytest-helios)"
IniType = Literal["string", "linelist", "args", "pathlist", "bool"]
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, its ini name, and its help text.

    A setting given only one way has ``flag=None`` (an ini list of extra rules) or ``ini=None``
    (a one-shot command). On the command line it is ``--flag VALUE`` (``metavar`` names the
    value) or, with ``store_true``, a flag without a value; its default there is ``None``, "not
    given", so that the ini twin decides (a ``store_true`` flag without an ini twin defaults to
    False). ``ini_type`` and ``default`` are the ini value's type and default; ``ini_help`` its
    help where it differs from the flag's.
    """

    flag: str | None
    ini: str | None
    help: str
    metavar: str | None = None
    store_true: bool = False
    ini_type: IniType = "string"
    default: Any = ""
    ini_help: str | None = None

    @property
    def dest(self) -> str:
        """The attribute of ``config.option`` (``config.getoption``) that holds the flag."""
        if self.flag is None:
            raise ValueError(f"the ini value {self.ini} has no command-line flag")
        return self.flag.lstrip("-").replace("-", "_")


LIVE = Option(
    "--helios-live",
    "helios_live",
    "target the real Helios API (key from HELIOS_API_KEY) instead of the embedded emulator.",
    store_true=True,
)
BASE_URL = Option(
    "--helios-base-url",
    "helios_base_url",
    f"base URL of the live target (default: HELIOS_BASE_URL, else {facts.BASE_URL}).",
    metavar="URL",
)
WEBHOOK_TIMEOUT = Option(
    "--helios-webhook-timeout",
    "helios_webhook_timeout",
    "seconds helios_webhook_receiver waits for a run's final webhook (default: 10).",
    metavar="SECONDS",
)
WEBHOOK_HOSTS = Option(
    "--helios-webhook-hosts",
    "helios_webhook_hosts",
    "hosts other than loopback the embedded emulator may deliver webhooks to, comma-separated "
    "(*.example.org: its subdomains; *: any host). Default: none, so a webhookUrl elsewhere "
    "is refused with a 400.",
    metavar="HOSTS",
)
EMULATOR_TRANSPORT = Option(
    "--helios-emulator-transport",
    "helios_emulator_transport",
    "how helios_client reaches the embedded emulator: 'http' (a loopback socket, the default) "
    "or 'in-process' (no socket: the client calls the emulator's app directly). Webhooks "
    "still go to helios_webhook_receiver over loopback HTTP.",
    metavar="http|in-process",
)
TRANSPORTS = ("http", "in-process")
UNKNOWN_FIELDS = Option(
    "--helios-unknown-fields",
    "helios_unknown_fields",
    "what the embedded emulator does with a request field or patientContext key the Helios "
    "documentation does not list: 'strict' (the default) refuses it with a 400 naming it, so a "
    "typo'd field name fails in CI; 'lenient' accepts and ignores it.",
    metavar="strict|lenient",
)
OPTIONS = (LIVE, BASE_URL, WEBHOOK_TIMEOUT, WEBHOOK_HOSTS, EMULATOR_TRANSPORT, UNKNOWN_FIELDS)


def add_options(parser: pytest.Parser, options: Iterable[Option]) -> None:
    """Register ``options`` (flags and ini values) in the ``helios`` group: every plugin's way."""
    group = parser.getgroup(GROUP, GROUP_DESCRIPTION)
    for option in options:
        if option.flag is not None and option.store_true:
            default = None if option.ini is not None else False
            group.addoption(option.flag, action="store_true", default=default, help=option.help)
        elif option.flag is not None:
            group.addoption(option.flag, metavar=option.metavar, default=None, help=option.help)
        if option.ini is not None:
            parser.addini(
                option.ini,
                option.ini_help or option.help,
                type=option.ini_type,
                default=option.default,
            )


@dataclass(frozen=True)
class Settings:
    """What the helios options resolved to for this run."""

    live: bool
    base_url: str
    webhook_timeout: float
    webhook_hosts: tuple[str, ...] = ()
    emulator_transport: str = "http"
    unknown_fields: str = "strict"

    @property
    def target(self) -> str:
        return "live" if self.live else "emulator"


def given(config: pytest.Config, option: Option) -> tuple[Any, str] | None:
    """The value the user gave and where (``--flag`` wins over the ini name), or None.

    An empty ini string counts as not given."""
    if option.flag is not None:
        value = config.getoption(option.dest, default=None)
        if value is not None:
            return value, option.flag
    if option.ini is not None:
        ini = config.getini(option.ini)
        if isinstance(ini, str) and ini.strip():
            return ini.strip(), option.ini
    return None


def invalid(source: str, value: object, valid: str) -> pytest.UsageError:
    """The one error of a bad setting: names where it was given, shows it, lists the valid ones."""
    return pytest.UsageError(f"{value!r} is not a valid {source}. Valid values: {valid}.")


def resolve(config: pytest.Config, option: Option, parse: Callable[[Any, str], T], default: T) -> T:
    """``parse(value, where)`` of the value given (command line first), else ``default``."""
    found = given(config, option)
    return default if found is None else parse(*found)


def parse_bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise invalid(source, value, ", ".join(_TRUE + _FALSE))


def parse_url(value: Any, source: str) -> str:
    import urllib.parse

    text = str(value)
    try:
        parts = urllib.parse.urlsplit(text)
        credentials = parts.username is not None or parts.password is not None
    except ValueError:
        parts, credentials = urllib.parse.urlsplit(""), False
    if credentials:
        # never echo them: the password may well be a key
        shown = text.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2], 1)
        raise invalid(
            source, shown, "a URL without a user or password (the key goes in HELIOS_API_KEY)"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(source, value, "an http:// or https:// URL such as " + facts.BASE_URL)
    return text.rstrip("/")


def parse_seconds(value: Any, source: str) -> float:
    try:
        seconds = float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise invalid(source, value, "a number of seconds greater than 0, such as 10 or 2.5")
    return seconds


_HOST = re.compile(r"\*|(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[?[0-9A-Fa-f:.]+\]?")


def parse_hosts(value: Any, source: str) -> tuple[str, ...]:
    """Host names or addresses separated by commas or spaces, each checked."""
    hosts = tuple(h for h in re.split(r"[\s,]+", str(value)) if h)
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise invalid(
                source,
                host,
                "host names or IP addresses without scheme, port or path, separated by commas "
                "(hooks.example.org, 10.0.0.5, *.example.org for its subdomains, * for any)",
            )
    return hosts


def parse_transport(value: Any, source: str) -> str:
    text = str(value).strip().lower()
    if text not in TRANSPORTS:
        raise invalid(source, value, ", ".join(TRANSPORTS))
    return text


def parse_unknown_fields(value: Any, source: str) -> str:
    text = str(value).strip().lower()
    if text not in facts.UNKNOWN_FIELDS_MODES:
        raise invalid(source, value, ", ".join(facts.UNKNOWN_FIELDS_MODES))
    return text


def read(config: pytest.Config) -> Settings:
    env_url = os.environ.get("HELIOS_BASE_URL")
    default_url = parse_url(env_url, "HELIOS_BASE_URL") if env_url else facts.BASE_URL
    return Settings(
        live=resolve(config, LIVE, parse_bool, False),
        base_url=resolve(config, BASE_URL, parse_url, default_url),
        webhook_timeout=resolve(config, WEBHOOK_TIMEOUT, parse_seconds, 10.0),
        webhook_hosts=resolve(config, WEBHOOK_HOSTS, parse_hosts, ()),
        emulator_transport=resolve(config, EMULATOR_TRANSPORT, parse_transport, "http"),
        unknown_fields=resolve(config, UNKNOWN_FIELDS, parse_unknown_fields, "strict"),
    )


def of(config: pytest.Config) -> Settings:
    """The settings read at configure time (read now if the plugin was registered late)."""
    try:
        return config.stash[_stash.settings]
    except KeyError:
        config.stash[_stash.settings] = settings = read(config)
        return settings
