"""The plugin's settings: each option has an ini twin, the command line wins, bad values fail early.

Read once in ``pytest_configure``; a bad value is a ``pytest.UsageError`` that names the option
as the user wrote it (``--helios-x`` or the ini name), shows the value and lists the valid ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

DEFAULT_LIVE_URL = "https://api.heliosai.health"
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, its ini name, and its help text."""

    flag: str
    ini: str
    help: str
    metavar: str | None = None  # None for a flag without a value

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


LIVE = Option(
    "--helios-live",
    "helios_live",
    "target the real Helios API (key from HELIOS_API_KEY) instead of the embedded emulator.",
)
BASE_URL = Option(
    "--helios-base-url",
    "helios_base_url",
    "base URL of the live target (default: HELIOS_BASE_URL, else https://api.heliosai.health).",
    metavar="URL",
)
WEBHOOK_TIMEOUT = Option(
    "--helios-webhook-timeout",
    "helios_webhook_timeout",
    "seconds helios_webhook_receiver waits for a run's final webhook (default: 10).",
    metavar="SECONDS",
)
OPTIONS = (LIVE, BASE_URL, WEBHOOK_TIMEOUT)


def add_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    for option in OPTIONS:
        if option.metavar is None:
            group.addoption(option.flag, action="store_true", default=None, help=option.help)
        else:
            group.addoption(option.flag, metavar=option.metavar, default=None, help=option.help)
        parser.addini(option.ini, type="string", default="", help=option.help)


@dataclass(frozen=True)
class Settings:
    """What the helios options resolved to for this run."""

    live: bool
    base_url: str
    webhook_timeout: float

    @property
    def target(self) -> str:
        return "live" if self.live else "emulator"


def _raw(config: pytest.Config, option: Option) -> tuple[Any, str] | None:
    """The value the user gave and where (``--flag`` wins over the ini name), or None."""
    value = config.getoption(option.dest, default=None)
    if value is not None:
        return value, option.flag
    ini = config.getini(option.ini)
    if isinstance(ini, str) and ini.strip():
        return ini.strip(), option.ini
    return None


def invalid(source: str, value: object, valid: str) -> pytest.UsageError:
    return pytest.UsageError(f"{value!r} is not a valid {source}. Valid values: {valid}.")


def resolve(config: pytest.Config, option: Option, parse: Callable[[Any, str], T], default: T) -> T:
    given = _raw(config, option)
    return default if given is None else parse(*given)


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
        raise invalid(source, value, "an http:// or https:// URL such as " + DEFAULT_LIVE_URL)
    return text.rstrip("/")


def parse_seconds(value: Any, source: str) -> float:
    try:
        seconds = float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise invalid(source, value, "a number of seconds greater than 0, such as 10 or 2.5")
    return seconds


def read(config: pytest.Config) -> Settings:
    env_url = os.environ.get("HELIOS_BASE_URL")
    default_url = parse_url(env_url, "HELIOS_BASE_URL") if env_url else DEFAULT_LIVE_URL
    return Settings(
        live=resolve(config, LIVE, parse_bool, False),
        base_url=resolve(config, BASE_URL, parse_url, default_url),
        webhook_timeout=resolve(config, WEBHOOK_TIMEOUT, parse_seconds, 10.0),
    )


settings_key = pytest.StashKey[Settings]()


def of(config: pytest.Config) -> Settings:
    """The settings read at configure time (read now if the plugin was registered late)."""
    try:
        return config.stash[settings_key]
    except KeyError:
        config.stash[settings_key] = settings = read(config)
        return settings
