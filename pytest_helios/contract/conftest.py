"""The contract suite's fixtures (pytest loads this file for ``--pyargs pytest_helios.contract``).

Each hands a test what it sends or records with; keys are masked in reprs and added to the
recorder's secrets, so no observed value in the report ever shows one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from pytest_helios.contract._recorder import ContractRecorder, recorder_for
from pytest_helios.contract._support import NOWHERE, WEBHOOK_URL_VARIABLE, Target, target_is_live
from pytest_helios.masking import MaskedSecret

if TYPE_CHECKING:
    from pytest_helios.client import HeliosClient


@pytest.fixture
def contract(request: pytest.FixtureRequest) -> ContractRecorder:
    """The session's assumptions recorder (its report is written at the end of the run)."""
    return recorder_for(request.config)


@pytest.fixture
def target(
    request: pytest.FixtureRequest, helios_client: HeliosClient, contract: ContractRecorder
) -> Iterator[Target]:
    """Plain HTTP to the target's base URL (the test account's URL on the emulator)."""
    import httpx

    contract.add_secret(helios_client.api_key)
    with httpx.Client(base_url=helios_client.base_url, timeout=helios_client.timeout) as http:
        yield Target(target_is_live(request), helios_client.base_url, http, contract)


@pytest.fixture
def api_key(helios_client: HeliosClient) -> MaskedSecret:
    """The key of the account under test."""
    return MaskedSecret(helios_client.api_key)


@pytest.fixture
def revoked(request: pytest.FixtureRequest, contract: ContractRecorder) -> MaskedSecret:
    """``revoked_key``, masked in reprs (live: HELIOS_REVOKED_API_KEY)."""
    key = MaskedSecret(request.getfixturevalue("revoked_key"))
    contract.add_secret(key)
    return key


@pytest.fixture
def foreign(request: pytest.FixtureRequest, contract: ContractRecorder) -> MaskedSecret:
    """``foreign_key``, masked in reprs (live: HELIOS_FOREIGN_API_KEY)."""
    key = MaskedSecret(request.getfixturevalue("foreign_key"))
    contract.add_secret(key)
    return key


@pytest.fixture
def sink_url(request: pytest.FixtureRequest) -> str:
    """A webhookUrl for runs started only for their synchronous answer."""
    if target_is_live(request):
        return os.environ.get(WEBHOOK_URL_VARIABLE) or NOWHERE
    receiver = request.getfixturevalue("helios_webhook_receiver")
    url: str = receiver.url
    return url
