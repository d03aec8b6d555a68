"""Fixtures of the gateway's suite: the gateway wired to the Helios target of the run
(pytest-helios's embedded emulator by default) through ``helios_base_url``, ``helios_api_key``
and ``helios_webhook_secret``, and a client to drive it in-process.

Nothing here serves or delivers: the tests use pytest-helios for that (``deliver_to``,
``route_webhooks``, ``serve_asgi``)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pytest_helios.cassettes import CassetteConfig

from gateway import WEBHOOK_PATH, Settings, create_app

#: the name the gateway answers to in these tests; TrustedHostMiddleware refuses any other
HOST = "gateway.test"


@pytest.fixture
def settings(helios_base_url: str, helios_api_key: str, helios_webhook_secret: str) -> Settings:
    return Settings(
        helios_api_key=helios_api_key,
        webhook_secret=helios_webhook_secret,
        webhook_url=f"http://{HOST}{WEBHOOK_PATH}",
        helios_base_url=helios_base_url,
        allowed_hosts=(HOST, "127.0.0.1"),
        helios_timeout=5.0,
    )


@pytest.fixture
def gateway(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.store.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the async tests run with anyio's pytest plugin, on asyncio


@pytest.fixture
async def client(gateway: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's API, in-process (httpx's ASGITransport), under the host name it trusts."""
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
        yield client


@pytest.fixture
def routed(helios_emulator, helios_account, gateway: FastAPI) -> None:
    """The test's runs deliver their webhooks straight into the test's gateway, at
    ``http://gateway.test/helios/webhook``, with no port; the route ends with the test."""
    helios_emulator.route_webhooks(HOST, gateway, account=helios_account)


@pytest.fixture
def helios_cassette_config(helios_cassette_config: CassetteConfig) -> CassetteConfig:
    """The example's public pseudonym salt: synthetic patients only (never with real data; a
    real project keeps its salt secret, HELIOS_PSEUDONYM_SALT in CI: docs/cassettes.md)."""
    return dataclasses.replace(
        helios_cassette_config, pseudonym_salt="helios-gateway example, synthetic patients only"
    )
