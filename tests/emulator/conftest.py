"""Fixtures of the emulator's own tests: a running emulator, an account, a key, a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_helios.emulator import Account, ApiKey, HeliosEmulator

from .receiver import Receiver, running_receiver

LOCAL_HOOK = "http://127.0.0.1:9/webhook"  # port 9 (discard): nothing listens, nothing is sent


def agent_request(agent_type: str = "light", webhook_url: str = LOCAL_HOOK) -> dict[str, Any]:
    return {
        "webhookUrl": webhook_url,
        "agentType": agent_type,
        "data": {
            "patientInfo": {"age": 45, "gender": "male"},
            "recentAbnormalLabs": [
                {
                    "date": "2025-01-15",
                    "display": "Hemoglobin A1c",
                    "value": "7.2",
                    "unit": "%",
                    "referenceRange": "4.0-5.6",
                    "interpretation": "High",
                }
            ],
        },
    }


def lab_request(webhook_url: str = LOCAL_HOOK) -> dict[str, Any]:
    return {
        "webhookUrl": webhook_url,
        "labResults": [
            {
                "name": "Creatinine",
                "value": "1.8 mg/dL",
                "flag": "High",
                "referenceRange": "0.7-1.3 mg/dL",
                "date": "2025-01-15",
                "category": "Renal",
            }
        ],
    }


def post_as(
    key: str, base_url: str, path: str = "/api/v1/agent", body: Any = None
) -> httpx.Response:
    """One request over a fresh connection with ``key`` as x-api-key."""
    payload = agent_request() if body is None else body
    return httpx.post(base_url + path, headers={"x-api-key": key}, json=payload)


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
    with httpx.Client(base_url=emulator.url, headers={"x-api-key": api_key.value}) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook endpoint on a loopback port that records what it receives."""
    with running_receiver() as r:
        yield r
