"""The stash keys that more than one module reads, in a leaf module.

Factored out so that nothing imports a key back from a plugin module: this module imports
nothing of the package at run time (the types below are for the type checker only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_helios._options import Settings
    from pytest_helios.cassettes.config import CassetteConfig
    from pytest_helios.cassettes.recorder import CassetteSession
    from pytest_helios.cassettes.scrub import SecretBook
    from pytest_helios.contract._session import ContractSession

# --- on the config ----------------------------------------------------------------------------

#: What the core options resolved to (``_options.of`` reads it).
settings: pytest.StashKey[Settings] = pytest.StashKey()
#: The cassette settings of the ini values, read once per session (``cassettes.config.from_ini``).
cassette_ini: pytest.StashKey[CassetteConfig] = pytest.StashKey()
#: Every key and secret of this session the cassettes must never write (``scrub.session_secrets``).
cassette_secrets: pytest.StashKey[SecretBook] = pytest.StashKey()
#: Base URLs of this session's targets, stored as the canonical host (``scrub.session_targets``).
cassette_targets: pytest.StashKey[list[str]] = pytest.StashKey()
#: The contract suite's state for this run, registered as a plugin by its ``pytest_configure``.
contract: pytest.StashKey[ContractSession] = pytest.StashKey()

# --- on a test item ---------------------------------------------------------------------------

#: The test's open cassette, while the ``helios_cassette`` fixture is active.
cassette_session: pytest.StashKey[CassetteSession] = pytest.StashKey()
#: Why the test cannot have its default cassette (another module of the same name claims it).
cassette_clash: pytest.StashKey[str] = pytest.StashKey()
