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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from pytest_helios._options import invalid

RecordMode = Literal["none", "once", "new_episodes", "all", "rewrite"]
RECORD_MODES: tuple[RecordMode, ...] = ("none", "once", "new_episodes", "all", "rewrite")
ExpiryAction = Literal["warn", "fail"]
EXPIRY_ACTIONS: tuple[ExpiryAction, ...] = ("warn", "fail")

#: Where a test's open cassette (a recorder.CassetteSession) is kept on its item.
SESSION_KEY: pytest.StashKey[Any] = pytest.StashKey()
#: Why a test cannot have its default cassette (another module of the same name claims it).
CLASH_KEY: pytest.StashKey[str] = pytest.StashKey()
_INI_KEY: pytest.StashKey[CassetteConfig] = pytest.StashKey()

CANONICAL_BASE_URL = "https://api.heliosai.health"
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
    #: Validate replayed interactions against ``schemas/`` (needs jsonschema-rs).
    contract_check: bool = True
    #: Key of the deterministic pseudonyms; change it to make your pseudonyms unguessable.
    pseudonym_salt: str = field(default="pytest-helios", repr=False)


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


def marker_options(kwargs: Mapping[str, Any], args: tuple[Any, ...]) -> CassetteMarkerOptions:
    """Check a ``helios_cassette`` marker's arguments; a typo or bad value is a UsageError."""
    if args:
        raise pytest.UsageError(
            f"@pytest.mark.helios_cassette takes keyword arguments only, got positional {args!r}"
        )
    known = [f.name for f in dataclasses.fields(CassetteMarkerOptions)]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.helios_cassette got an unknown argument {unknown[0]!r}; "
            f"valid arguments: {', '.join(known)}"
        )
    if kwargs.get("record_mode") is not None:
        check_choice(_OF_MARKER.format("record_mode"), kwargs["record_mode"], RECORD_MODES)
    if kwargs.get("on_expiry") is not None:
        check_choice(_OF_MARKER.format("on_expiry"), kwargs["on_expiry"], EXPIRY_ACTIONS)
    if kwargs.get("max_age_days") is not None:
        check_max_age(_OF_MARKER.format("max_age_days"), kwargs["max_age_days"])
    name = kwargs.get("name")
    if name is not None and (not isinstance(name, str) or not name or "/" in name):
        raise pytest.UsageError(
            f"{name!r} is not a valid {_OF_MARKER.format('name')}. "
            "Valid values: a file stem without '/'."
        )
    cleaned = dict(kwargs)
    for key in ("secret_headers", "secret_keys", "identifying_keys"):
        if key in cleaned:
            cleaned[key] = _strings(_OF_MARKER.format(key), cleaned[key])
    return CassetteMarkerOptions(**cleaned)


def from_ini(config: pytest.Config) -> CassetteConfig:
    """The ini values (and defaults): what the ``helios_cassette_config`` fixture returns.

    Read once per session (the value is frozen, so every test can share it)."""
    cached: CassetteConfig | None = config.stash.get(_INI_KEY, None)
    if cached is None:
        cached = config.stash[_INI_KEY] = _read_ini(config)
    return cached


def _read_ini(config: pytest.Config) -> CassetteConfig:
    mode = config.getini("helios_record_mode") or "none"
    expiry = config.getini("helios_cassette_on_expiry") or "warn"
    directory = Path(config.getini("helios_cassette_dir") or "cassettes")
    return CassetteConfig(
        record_mode=cast(RecordMode, check_choice("helios_record_mode", mode, RECORD_MODES)),
        cassette_dir=directory if directory.is_absolute() else config.rootpath / directory,
        max_age_days=check_max_age(
            "helios_cassette_max_age", config.getini("helios_cassette_max_age")
        ),
        on_expiry=cast(
            ExpiryAction, check_choice("helios_cassette_on_expiry", expiry, EXPIRY_ACTIONS)
        ),
        secret_headers=tuple(config.getini("helios_scrub_headers")),
        secret_keys=tuple(config.getini("helios_scrub_keys")),
        identifying_keys=tuple(config.getini("helios_identifying_keys")),
    )


def check_command_line(config: pytest.Config) -> None:
    """Fail at start-up, not at the first test, on a bad option or ini value."""
    mode = config.getoption("helios_record_mode")
    if mode is not None:
        check_choice("--helios-record-mode", mode, RECORD_MODES)
    expiry = config.getoption("helios_cassette_on_expiry")
    if expiry is not None:
        check_choice("--helios-cassette-on-expiry", expiry, EXPIRY_ACTIONS)
    check_max_age("--helios-cassette-max-age", config.getoption("helios_cassette_max_age"))
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
        for key in ("record_mode", "max_age_days", "on_expiry", "contract_check"):
            value = getattr(marker, key)
            if value is not None:
                changes[key] = value
        for key in ("secret_headers", "secret_keys", "identifying_keys"):
            extra = getattr(marker, key)
            if extra:
                changes[key] = (*getattr(base, key), *extra)
    cli_mode = config.getoption("helios_record_mode")
    if cli_mode is not None:
        changes["record_mode"] = cli_mode
    cli_age = config.getoption("helios_cassette_max_age")
    if cli_age is not None:
        changes["max_age_days"] = check_max_age("--helios-cassette-max-age", cli_age)
    cli_expiry = config.getoption("helios_cassette_on_expiry")
    if cli_expiry is not None:
        changes["on_expiry"] = cli_expiry
    cli_dir = config.getoption("helios_cassette_dir")
    if cli_dir:
        directory = Path(cli_dir)
        changes["cassette_dir"] = (
            directory if directory.is_absolute() else (config.rootpath / directory)
        )
    return dataclasses.replace(base, **changes)


def default_cassette_name(nodeid: str, name: str) -> str:
    """``<test>`` of ``<module>/<test>.yaml``: the node id after the module (``TestX.test_y``)."""
    return ".".join(nodeid.split("::")[1:]) or name


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
        key = (path.stem, default_cassette_name(item.nodeid, item.name))
        claims.setdefault(key, {}).setdefault(path, []).append(item)
    for (module, test), owners in claims.items():
        if len(owners) < 2:
            continue
        shown = ", ".join(sorted(shown_path(path, rootpath) for path in owners))
        message = (
            f"helios: modules {shown} have the same name, so their tests {test} would share "
            f"one cassette, {module}/{test}.yaml. Give each its own: "
            f'@pytest.mark.helios_cassette(name="...") or rename a module.'
        )
        for clashing in owners.values():
            for item in clashing:
                item.stash[CLASH_KEY] = message


def shown_path(path: Path, rootpath: Path) -> str:
    """``path`` as messages show it: relative to the rootdir when it lies below it."""
    try:
        return str(path.relative_to(rootpath))
    except ValueError:
        return str(path)
