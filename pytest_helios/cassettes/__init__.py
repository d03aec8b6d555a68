"""Cassettes: record Helios traffic once, replay it offline, never write a secret or a patient.

The parts, one module each:

- ``config``: the settings (record mode, directory, expiry, extra rules) and their precedence;
- ``scrub``: secrets replaced and patient identifiers pseudonymized, before matching and saving;
- ``scan``: the independent scan of the exact bytes about to be written (fails closed);
- ``persister``: the on-disk format (readable YAML, provenance) written atomically;
- ``matching``: method, path, query and canonical-JSON-body matching, and miss messages;
- ``recorder``: one cassette per test on vcrpy, the glue the pytest plugin drives;
- ``schema_checks``: replayed interactions checked against ``schemas/``;
- ``lint``: the cassette linter behind ``pytest --helios-lint-cassettes`` and
  ``helios-cassettes lint``.

Nothing here imports vcrpy at module level except ``recorder``, which the plugin imports lazily.

The public names, imported on first use (importing this package loads neither vcrpy nor
PyYAML): `CassetteConfig`, what the ``helios_cassette_config`` fixture returns and a
``conftest.py`` may override; `session_secrets`, the session's book of secrets that no cassette
may hold, for a fixture to add its own; and the cassette exceptions `CassetteFormatError`,
`CassetteWriteRefused`, `CassetteWriteFailed` and `CassetteExpiredWarning`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_helios import _lazy_exports

if TYPE_CHECKING:
    from pytest_helios.cassettes.config import CassetteConfig
    from pytest_helios.cassettes.scrub import session_secrets
    from pytest_helios.exceptions import (
        CassetteExpiredWarning,
        CassetteFormatError,
        CassetteWriteFailed,
        CassetteWriteRefused,
    )

__all__ = [
    "CassetteConfig",
    "CassetteExpiredWarning",
    "CassetteFormatError",
    "CassetteWriteFailed",
    "CassetteWriteRefused",
    "session_secrets",
]

_HOMES: dict[str, str] = {
    "CassetteConfig": "pytest_helios.cassettes.config",
    "session_secrets": "pytest_helios.cassettes.scrub",
    **dict.fromkeys(
        (
            "CassetteExpiredWarning",
            "CassetteFormatError",
            "CassetteWriteFailed",
            "CassetteWriteRefused",
        ),
        "pytest_helios.exceptions",
    ),
}

if not TYPE_CHECKING:  # type checkers read the imports above, and reject any other name
    __getattr__, __dir__ = _lazy_exports(__name__, _HOMES, __all__)
