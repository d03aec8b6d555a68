"""Every response carries the concurrency headers (helios-api.md section 2.1, "Every response
carries concurrency headers, including 200 and 429 responses", [S:intro], [S:rate]): the
emulator's refusals too. An answer that identifies no account (a 401, a 404) carries the limit
with none active; the EHR endpoint before its agentType is known carries the light agent's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_helios import HeliosEmulator

HEADERS = ("X-Concurrent-Limit", "X-Concurrent-Active", "X-Concurrent-Remaining")
LAB = {"name": "Creatinine", "value": "1.8 mg/dL"}
LAB_BODY = {"webhookUrl": "https://example.invalid/h", "labResults": [LAB]}


@pytest.fixture(scope="module")
def emulator() -> Iterator[HeliosEmulator]:
    with HeliosEmulator() as emu:
        yield emu


@pytest.fixture
def account(emulator: HeliosEmulator) -> Iterator[Any]:
    made = emulator.create_account("headers")
    yield made
    emulator.forget_account(made)


def slots(response: httpx.Response) -> tuple[str, str, str]:
    missing = [name for name in HEADERS if name not in response.headers]
    assert not missing, f"{response.status_code} without {missing}"
    limit, active, remaining = (response.headers[name] for name in HEADERS)
    return limit, active, remaining


def test_a_401_without_a_key_carries_the_limit_with_none_active(emulator: HeliosEmulator) -> None:
    """helios-api.md 2.1 [S:intro]: every response carries the headers."""
    response = httpx.post(emulator.url + "/api/v1/lab-results", json=LAB_BODY)
    assert response.status_code == 401
    assert slots(response) == ("7", "0", "7")


def test_a_401_for_a_revoked_key_on_an_account_url_carries_them_too(
    emulator: HeliosEmulator, account: Any
) -> None:
    """helios-api.md 2.1 [S:intro]."""
    key = account.create_key("gone")
    account.revoke_key(key)
    response = httpx.post(
        account.base_url + "/api/v1/agent",
        json={"webhookUrl": "https://example.invalid/h", "agentType": "light", "data": {}},
        headers={"x-api-key": key.value},
    )
    assert response.status_code == 401
    assert slots(response) == ("7", "0", "7")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/api/v1/unknown", 404), ("GET", "/api/v1/agent", 405)],
)
def test_a_404_and_a_405_carry_them(
    emulator: HeliosEmulator, method: str, path: str, status: int
) -> None:
    """helios-api.md 2.1 [S:intro]."""
    response = httpx.request(method, emulator.url + path)
    assert response.status_code == status
    assert slots(response) == ("7", "0", "7")


def test_a_413_carries_the_accounts_slots(emulator: HeliosEmulator, account: Any) -> None:
    """helios-api.md 2.1 [S:intro]: the account is known, so are its lab-results slots."""
    key = account.create_key("big").value
    account.exhaust_concurrency("lab-results")
    response = httpx.post(
        account.base_url + "/api/v1/lab-results",
        content=b"x" * (emulator.config.max_body_bytes + 1),
        headers={"x-api-key": key, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert slots(response) == ("7", "7", "0")


def test_an_admin_404_carries_none(emulator: HeliosEmulator) -> None:
    """The admin API is the emulator's own, not the documented API."""
    response = httpx.get(emulator.url + "/_emulator/no-such-route")
    assert response.status_code == 404
    assert "X-Concurrent-Limit" not in response.headers
