"""Fixtures of the emulator's own tests: a running emulator, an account, a key, a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_helios.emulator import Account, ApiKey, HeliosEmulator
from tests.samples import agent_request

from .receiver import Receiver, running_receiver


# Every test target is plain http on loopback, so these skip loading the CA bundle, which costs
# about 0.2 s per httpx client (more than most of these tests take otherwise).
def plain_client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(verify=False, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, verify=False, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, verify=False, **kwargs)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, verify=False, **kwargs)


def post_as(
    key: str, base_url: str, path: str = "/api/v1/agent", body: Any = None
) -> httpx.Response:
    """One request over a fresh connection with ``key`` as x-api-key."""
    payload = agent_request() if body is None else body
    return post(base_url + path, headers={"x-api-key": key}, json=payload)


@pytest.fixture(scope="session")
def emulator() -> Iterator[HeliosEmulator]:
    """One emulator for the session: every test gets its own account, so none interfere."""
    with HeliosEmulator() as emu:
        yield emu


@pytest.fixture
def account(emulator: HeliosEmulator) -> Account:
    return emulator.create_account("acme")


@pytest.fixture
def api_key(account: Account) -> ApiKey:
    return account.create_key("ci")


@pytest.fixture
def client(emulator: HeliosEmulator, api_key: ApiKey) -> Iterator[httpx.Client]:
    """An httpx client on the emulator's real socket, sending the account's key."""
    with plain_client(base_url=emulator.url, headers={"x-api-key": api_key.value}) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook endpoint on a loopback port that records what it receives."""
    with running_receiver() as r:
        yield r
