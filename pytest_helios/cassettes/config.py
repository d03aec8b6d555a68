"""Cassette settings and the one precedence that combines them.

Precedence, highest first (documented in the README):

1. the command line (``--helios-record-mode``, ``--helios-cassette-max-age``, ...), so the
   command a miss message prints always works;
2. the ``helios_cassette(...)`` marker on the test (closest marker wins);
3. the ``helios_cassette_config`` fixture, which users override in a ``conftest.py``;
4. the ini values (``helios_record_mode``, ...), which that fixture reads by default;
5. the defaults below (record mode ``none``: never touch the network unless asked).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from pytest_helios import _stash
from pytest_helios._marker import check_keywords
from pytest_helios._options import Option, invalid, parse_bool
from pytest_helios._options import resolve as resolve_option

RecordMode = Literal["none", "once", "new_episodes", "all", "rewrite"]
RECORD_MODES: tuple[RecordMode, ...] = ("none", "once", "new_episodes", "all", "rewrite")
ExpiryAction = Literal["warn", "fail"]
EXPIRY_ACTIONS: tuple[ExpiryAction, ...] = ("warn", "fail")

#: The default ``pseudonym_salt``: a placeholder for the project's secret salt, found (or
#: made) only when a cassette needs a pseudonym (pytest_helios.cassettes.salt).
PROJECT_SALT = "<the project's pseudonym salt>"

#: What every ``webhookUrl`` (a run-local value) becomes on disk and before matching.
CANONICAL_WEBHOOK_URL = "https://webhook.invalid/helios"


@dataclass(frozen=True, kw_only=True)
class CassetteConfig:
    """Everything that decides how a test's cassette is recorded, scrubbed and replayed.

    Return a changed copy from your own ``helios_cassette_config`` fixture to change the
    defaults of a directory: ``dataclasses.replace(helios_cassette_config, record_mode="once")``.
    Extra rules *add to* the defaults; nothing here can switch a default rule off.
    """

    record_mode: RecordMode = "none"
    cassette_dir: Path = Path("cassettes")
    #: Cassettes older than this many days warn or fail on replay (``None``: never expire).
    max_age_days: float | None = None
    on_expiry: ExpiryAction = "warn"
    #: Extra header names whose values are secrets (matched case-insensitively).
    secret_headers: tuple[str, ...] = ()
    #: Extra JSON keys, query and form parameter names whose values are secrets.
    secret_keys: tuple[str, ...] = ()
    #: Extra JSON paths of patient identifiers, e.g. ``"**.guardianName"`` or
    #: ``"patientContext.mrn"`` (``*`` is one key or index, ``**`` any number of them).
    identifying_keys: tuple[str, ...] = ()
    #: Extra secrets to redact and to scan for (values, never written or printed).
    extra_secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Base URLs that are stored as https://api.heliosai.health (the emulator's, a proxy's).
    target_urls: tuple[str, ...] = ()
    #: Hosts recorded besides the Helios API (``host``, ``host:port`` or a URL): another API
    #: the code under test calls. Any other request passes through, never recorded.
    record_hosts: tuple[str, ...] = ()
    #: Hosts never recorded, not even a Helios target (``host``, ``host:port`` or a URL).
    ignore_hosts: tuple[str, ...] = ()
    #: On replay, deliver each replayed run's recorded webhooks, freshly signed, to the
    #: ``webhookUrl`` the test sent, as the API would.
    replay_webhooks: bool = True
    #: Validate replayed interactions against ``schemas/`` (needs jsonschema-rs).
    contract_check: bool = True
    #: Key of the deterministic pseudonyms. By default (`PROJECT_SALT`) the project's own
    #: secret salt (``HELIOS_PSEUDONYM_SALT``, else ``.helios/pseudonym-salt`` in the rootdir,
    #: made on the first recording); see pytest_helios.cassettes.salt.
    pseudonym_salt: str = field(default=PROJECT_SALT, repr=False)


@dataclass(frozen=True, kw_only=True)
class CassetteMarkerOptions:
    """The keyword arguments ``@pytest.mark.helios_cassette(...)`` accepts (keywords only)."""

    record_mode: str | None = None
    #: The cassette's file stem, instead of the test's name.
    name: str | None = None
    max_age_days: float | None = None
    on_expiry: str | None = None
    secret_headers: tuple[str, ...] = ()
    secret_keys: tuple[str, ...] = ()
    identifying_keys: tuple[str, ...] = ()
    contract_check: bool | None = None
    record_hosts: tuple[str, ...] = ()
    ignore_hosts: tuple[str, ...] = ()
    replay_webhooks: bool | None = None


_MODES = ", ".join(RECORD_MODES)
RECORD_MODE = Option(
    "--helios-record-mode",
    "helios_record_mode",
    f"cassette record mode: {_MODES} (default none; ini: helios_record_mode). "
    "Wins over the helios_cassette marker and the helios_cassette_config fixture.",
    metavar="MODE",
    default="none",
    ini_help=f"cassette record mode: {_MODES}.",
)
CASSETTE_DIR = Option(
    "--helios-cassette-dir",
    "helios_cassette_dir",
    "directory of cassettes, relative to the rootdir (default cassettes; "
    "ini: helios_cassette_dir).",
    metavar="DIR",
    default="cassettes",
    ini_help="directory of cassettes.",
)
MAX_AGE = Option(
    "--helios-cassette-max-age",
    "helios_cassette_max_age",
    "cassettes older than DAYS warn or fail on replay (ini: helios_cassette_max_age).",
    metavar="DAYS",
    ini_help="maximum cassette age in days.",
)
ON_EXPIRY = Option(
    "--helios-cassette-on-expiry",
    "helios_cassette_on_expiry",
    f"what an expired cassette does: {', '.join(EXPIRY_ACTIONS)} "
    "(default warn; ini: helios_cassette_on_expiry).",
    metavar="ACTION",
    default="warn",
    ini_help="expired cassettes: warn or fail.",
)
LINT = Option(
    "--helios-lint-cassettes",
    None,
    "check every cassette for secrets, identifiers, contract violations and age, "
    "print one line per finding and exit (non-zero on any finding).",
    store_true=True,
)
SCRUB_HEADERS = Option(
    None, "helios_scrub_headers", "extra header names holding secrets.", ini_type="linelist"
)
SCRUB_KEYS = Option(
    None,
    "helios_scrub_keys",
    "extra JSON keys and query/form parameters holding secrets.",
    ini_type="linelist",
)
IDENTIFYING_KEYS = Option(
    None,
    "helios_identifying_keys",
    "extra JSON paths of patient identifiers (e.g. **.guardianName).",
    ini_type="linelist",
)
RECORD_HOSTS = Option(
    None,
    "helios_record_hosts",
    "hosts recorded besides the Helios API (host, host:port or URL; one per line).",
    ini_type="linelist",
)
IGNORE_HOSTS = Option(
    None,
    "helios_ignore_hosts",
    "hosts never recorded, not even a Helios target (host, host:port or URL).",
    ini_type="linelist",
)
REPLAY_WEBHOOKS = Option(
    None,
    "helios_replay_webhooks",
    "deliver a replayed run's recorded webhooks to the test's webhookUrl (default true).",
)
#: The cassettes plugin's options and ini values, in ``pytest --help`` order.
OPTIONS = (
    RECORD_MODE,
    CASSETTE_DIR,
    MAX_AGE,
    ON_EXPIRY,
    LINT,
    SCRUB_HEADERS,
    SCRUB_KEYS,
    IDENTIFYING_KEYS,
    RECORD_HOSTS,
    IGNORE_HOSTS,
    REPLAY_WEBHOOKS,
)
MARKER_HELP = (
    "helios_cassette(**options): record or replay this test's Helios traffic in "
    "cassettes/<module>/<test>.yaml; keyword options: record_mode, name, max_age_days, "
    "on_expiry, secret_headers, secret_keys, identifying_keys, contract_check, record_hosts, "
    "ignore_hosts, replay_webhooks."
)


def check_choice(what: str, value: object, valid: Iterable[str]) -> str:
    """``value`` if it is one of ``valid``, else a UsageError naming ``what`` and the choices."""
    choices = tuple(valid)
    if isinstance(value, str) and value in choices:
        return value
    raise invalid(what, value, ", ".join(choices))


def check_max_age(what: str, value: object) -> float | None:
    """A maximum age in days (a positive number), or ``None`` for an empty value."""
    if value is None or value == "":
        return None
    try:
        days = float(cast(Any, value))
    except (TypeError, ValueError):
        days = math.nan
    if isinstance(value, bool) or not math.isfinite(days) or days <= 0:
        raise invalid(what, value, "a positive number of days")
    return days


def _strings(what: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise invalid(what, value, "a list of strings")


_OF_MARKER = "{} of @pytest.mark.helios_cassette"
#: The marker's keywords that replace the fixture's value, and its list keywords, which add.
_SCALARS = ("record_mode", "max_age_days", "on_expiry", "contract_check", "replay_webhooks")
_LISTS = ("secret_headers", "secret_keys", "identifying_keys", "record_hosts", "ignore_hosts")


def marker_options(kwargs: Mapping[str, Any], args: tuple[Any, ...]) -> CassetteMarkerOptions:
    """Check a ``helios_cassette`` marker's arguments; a typo or bad value is a UsageError."""
    check_keywords("helios_cassette", args, kwargs, CassetteMarkerOptions)
    if kwargs.get("record_mode") is not None:
        check_choice(_OF_MARKER.format("record_mode"), kwargs["record_mode"], RECORD_MODES)
    if kwargs.get("on_expiry") is not None:
        check_choice(_OF_MARKER.format("on_expiry"), kwargs["on_expiry"], EXPIRY_ACTIONS)
    if kwargs.get("max_age_days") is not None:
        check_max_age(_OF_MARKER.format("max_age_days"), kwargs["max_age_days"])
    replay = kwargs.get("replay_webhooks")
    if replay is not None and not isinstance(replay, bool):
        raise invalid(_OF_MARKER.format("replay_webhooks"), replay, "True, False")
    name = kwargs.get("name")
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise pytest.UsageError(
            f"{name!r} is not a valid {_OF_MARKER.format('name')}. "
            "Valid values: a file stem without '/'."
        )
    cleaned = dict(kwargs)
    for key in _LISTS:
        if key in cleaned:
            cleaned[key] = _strings(_OF_MARKER.format(key), cleaned[key])
    return CassetteMarkerOptions(**cleaned)


def from_ini(config: pytest.Config) -> CassetteConfig:
    """The ini values (and defaults): what the ``helios_cassette_config`` fixture returns.

    Read once per session (the value is frozen, so every test can share it)."""
    cached: CassetteConfig | None = config.stash.get(_stash.cassette_ini, None)
    if cached is None:
        cached = config.stash[_stash.cassette_ini] = _read_ini(config)
    return cached


def _ini(config: pytest.Config, option: Option) -> Any:
    return config.getini(str(option.ini))


def _flag(config: pytest.Config, option: Option) -> Any:
    return config.getoption(option.dest)


def _read_ini(config: pytest.Config) -> CassetteConfig:
    mode = _ini(config, RECORD_MODE) or RECORD_MODE.default
    expiry = _ini(config, ON_EXPIRY) or ON_EXPIRY.default
    directory = Path(_ini(config, CASSETTE_DIR) or CASSETTE_DIR.default)
    return CassetteConfig(
        record_mode=cast(RecordMode, check_choice(str(RECORD_MODE.ini), mode, RECORD_MODES)),
        cassette_dir=directory if directory.is_absolute() else config.rootpath / directory,
        max_age_days=check_max_age(str(MAX_AGE.ini), _ini(config, MAX_AGE)),
        on_expiry=cast(ExpiryAction, check_choice(str(ON_EXPIRY.ini), expiry, EXPIRY_ACTIONS)),
        secret_headers=tuple(_ini(config, SCRUB_HEADERS)),
        secret_keys=tuple(_ini(config, SCRUB_KEYS)),
        identifying_keys=tuple(_ini(config, IDENTIFYING_KEYS)),
        record_hosts=tuple(_ini(config, RECORD_HOSTS)),
        ignore_hosts=tuple(_ini(config, IGNORE_HOSTS)),
        replay_webhooks=resolve_option(config, REPLAY_WEBHOOKS, parse_bool, True),
    )


def check_command_line(config: pytest.Config) -> None:
    """Fail at start-up, not at the first test, on a bad option or ini value."""
    mode = _flag(config, RECORD_MODE)
    if mode is not None:
        check_choice(str(RECORD_MODE.flag), mode, RECORD_MODES)
    expiry = _flag(config, ON_EXPIRY)
    if expiry is not None:
        check_choice(str(ON_EXPIRY.flag), expiry, EXPIRY_ACTIONS)
    check_max_age(str(MAX_AGE.flag), _flag(config, MAX_AGE))
    from_ini(config)


def resolve(
    base: CassetteConfig, marker: CassetteMarkerOptions | None, config: pytest.Config
) -> CassetteConfig:
    """Apply the marker over the fixture's value, then the command line over both."""
    if not isinstance(base, CassetteConfig):
        raise pytest.UsageError(
            "the helios_cassette_config fixture must return a "
            f"pytest_helios.cassettes.config.CassetteConfig, not {type(base).__name__}."
        )
    changes: dict[str, Any] = {}
    if marker is not None:
        for key in _SCALARS:
            value = getattr(marker, key)
            if value is not None:
                changes[key] = value
        for key in _LISTS:
            extra = getattr(marker, key)
            if extra:
                changes[key] = (*getattr(base, key), *extra)
    cli_mode = _flag(config, RECORD_MODE)
    if cli_mode is not None:
        changes["record_mode"] = cli_mode
    cli_age = _flag(config, MAX_AGE)
    if cli_age is not None:
        changes["max_age_days"] = check_max_age(str(MAX_AGE.flag), cli_age)
    cli_expiry = _flag(config, ON_EXPIRY)
    if cli_expiry is not None:
        changes["on_expiry"] = cli_expiry
    cli_dir = _flag(config, CASSETTE_DIR)
    if cli_dir:
        directory = Path(cli_dir)
        changes["cassette_dir"] = (
            directory if directory.is_absolute() else (config.rootpath / directory)
        )
    if base.pseudonym_salt == PROJECT_SALT:  # the rootdir's salt, made only by a recording
        from pytest_helios.cassettes.salt import ProjectSalt

        mode = changes.get("record_mode", base.record_mode)
        changes["pseudonym_salt"] = ProjectSalt(config.rootpath, recording=mode != "none")
    return dataclasses.replace(base, **changes)


#: A parametrize id part kept in a file name: a lowercase word (``light``, ``agent_type0``,
#: as pytest makes them), ``True``/``False``/``None``, or a short number (``0``, ``1.5``).
_PLAIN_WORD = re.compile(r"[a-z][a-z0-9_]{0,39}|True|False|None")
_SHORT_NUMBER = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,4})?")


def plain_id(test_id: str) -> bool:
    """Whether a parametrize id may stand in a file name: each ``-``-separated part a plain
    word or a short number, and at most one number (``1962-03-14`` or ``555-0100`` is not)."""
    parts = test_id.split("-")
    numbers = sum(1 for part in parts if _SHORT_NUMBER.fullmatch(part))
    return numbers <= 1 and all(
        _PLAIN_WORD.fullmatch(part) or _SHORT_NUMBER.fullmatch(part) for part in parts
    )


def default_cassette_name(nodeid: str, name: str, *, salt: str | None) -> str:
    """``<test>`` of ``<module>/<test>.yaml``: the node id after the module (``TestX.test_y``).

    A parametrize id that is not :func:`plain_id` (it may be a patient's name, a birth date, a
    record number) becomes ``id-<12 hex>``, an HMAC of the id keyed with the pseudonym
    ``salt`` (the project's secret one is read only then): the same id always gives the same
    name, and the name tells nothing. ``salt=None`` shows the digest as ``id-...``."""
    stem = ".".join(nodeid.split("::")[1:]) or name
    test, bracket, rest = stem.partition("[")
    if not bracket or not rest.endswith("]") or plain_id(rest[:-1]):
        return stem
    if salt is None:
        return f"{test}[id-...]"
    from pytest_helios.cassettes.salt import resolve as resolve_salt  # a cassette's, so late

    key = resolve_salt(salt).encode()
    digest = hmac.new(key, b"cassette name\0" + rest[:-1].encode(), hashlib.sha256)
    return f"{test}[id-{digest.hexdigest()[:12]}]"


def mark_clashes(items: Iterable[pytest.Item], rootpath: Path) -> None:
    """Tests of modules with the same name in different folders would share cassette files
    (``<module>/<test>.yaml``): each such test is marked to fail, naming the modules."""
    claims: dict[tuple[str, str], dict[Path, list[pytest.Item]]] = {}
    for item in items:
        if "helios_cassette" not in getattr(item, "fixturenames", ()):
            continue
        marker = item.get_closest_marker("helios_cassette")
        if marker is not None and marker.kwargs.get("name") is not None:
            continue  # a name given on purpose may be shared on purpose
        path = Path(str(item.path))
        key = (path.stem, ".".join(item.nodeid.split("::")[1:]) or item.name)
        claims.setdefault(key, {}).setdefault(path, []).append(item)
    for (module, test), owners in claims.items():
        if len(owners) < 2:
            continue
        stem = default_cassette_name(f"::{test}", test, salt=None)  # never a patient's name
        shown = ", ".join(sorted(shown_path(path, rootpath) for path in owners))
        message = (
            f"helios: modules {shown} have the same name, so their tests {stem} would share "
            f"one cassette, {module}/{stem}.yaml. Give each its own: "
            f'@pytest.mark.helios_cassette(name="...") or rename a module.'
        )
        for clashing in owners.values():
            for item in clashing:
                item.stash[_stash.cassette_clash] = message


def shown_path(path: Path, rootpath: Path) -> str:
    """``path`` as messages show it: relative to the rootdir when it lies below it."""
    try:
        return str(path.relative_to(rootpath))
    except ValueError:
        return str(path)
