"""The emulator authenticates every request by its x-api-key header, as the docs list the 401s."""

from __future__ import annotations

import secrets

import httpx
import pytest

from pytest_helios.emulator import Account, ApiKey, HeliosEmulator
from tests.samples import agent_request, lab_request

from .conftest import plain_client, post, post_as

ENDPOINTS = ["/api/v1/agent", "/api/v1/lab-results"]


def unauthorized(message: str) -> dict[str, str]:
    return {"error": "Unauthorized", "message": message}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_request_without_a_key_gets_401_missing_header(
    emulator: HeliosEmulator, path: str
) -> None:
    response = post(emulator.url + path, json=agent_request())
    assert response.status_code == 401
    assert response.json() == unauthorized("Missing x-api-key header")


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_or_blank_key_counts_as_missing(emulator: HeliosEmulator, value: str) -> None:
    # in-process: httpx refuses to put a blank header value on a real socket
    with plain_client(transport=emulator.transport(), base_url=emulator.url) as client:
        response = client.post("/api/v1/agent", headers={"x-api-key": value}, json=agent_request())
    assert response.json() == unauthorized("Missing x-api-key header")


def test_an_unknown_key_gets_401_invalid_and_is_not_echoed(emulator: HeliosEmulator) -> None:
    stranger = "sk_live_" + secrets.token_hex(24)
    response = post_as(stranger, emulator.url)
    assert response.status_code == 401
    assert response.json() == unauthorized("Invalid API key")
    assert stranger not in response.text


def test_the_header_name_is_case_insensitive(emulator: HeliosEmulator, api_key: ApiKey) -> None:
    response = post(
        emulator.url + "/api/v1/agent", headers={"X-Api-KEY": api_key.value}, json=agent_request()
    )
    assert response.status_code == 200


def test_a_revoked_key_gets_401_revoked(
    emulator: HeliosEmulator, account: Account, api_key: ApiKey
) -> None:
    account.revoke_key(api_key)
    response = post_as(api_key.value, emulator.url)
    assert response.status_code == 401
    assert response.json() == unauthorized("API key has been revoked")
    assert api_key.revoked


def test_revoking_one_key_leaves_the_others_working(
    emulator: HeliosEmulator, account: Account, api_key: ApiKey
) -> None:
    other = account.create_key("other")
    account.revoke_key(api_key.id)
    response = post_as(other.value, emulator.url)
    assert response.status_code == 200


def test_revoke_all_disables_every_key_of_the_account_only(
    emulator: HeliosEmulator, account: Account, api_key: ApiKey
) -> None:
    second = account.create_key("second")
    neighbour = emulator.create_account("neighbour").create_key("ci")
    assert account.revoke_all_keys() == 2
    for key in (api_key, second):
        response = post_as(key.value, emulator.url)
        assert response.json() == unauthorized("API key has been revoked")
    response = post_as(neighbour.value, emulator.url)
    assert response.status_code == 200


def test_a_key_of_another_account_on_an_account_url_gets_401_different_account(
    emulator: HeliosEmulator, account: Account
) -> None:
    """Each account has its own base URL; another account's valid key is refused there."""
    foreign = emulator.create_account("other company").create_key("theirs")
    response = post_as(foreign.value, account.base_url)
    assert response.status_code == 401
    assert response.json() == unauthorized("API key belongs to a different account")
    assert foreign.value not in response.text


def test_the_accounts_own_key_works_on_its_account_url(account: Account, api_key: ApiKey) -> None:
    response = post_as(api_key.value, account.base_url, "/api/v1/lab-results", lab_request())
    assert response.status_code == 200


def test_an_account_url_of_no_account_is_404(emulator: HeliosEmulator, api_key: ApiKey) -> None:
    response = post(
        emulator.url + "/accounts/acct_nope/api/v1/agent",
        headers={"x-api-key": api_key.value},
        json=agent_request(),
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": "No account 'acct_nope' on this emulator",
    }


def test_using_a_key_records_its_last_use(client: httpx.Client, api_key: ApiKey) -> None:
    assert api_key.last_used_at is None
    client.post("/api/v1/agent", json=agent_request())
    assert api_key.last_used_at is not None
    assert api_key.last_used_at >= api_key.created_at


def test_authentication_comes_before_body_validation(emulator: HeliosEmulator) -> None:
    response = post(emulator.url + "/api/v1/agent", content=b"{not json")
    assert response.json() == unauthorized("Missing x-api-key header")


def test_key_reprs_and_listings_never_show_the_plaintext(account: Account, api_key: ApiKey) -> None:
    assert api_key.value.startswith("sk_live_")
    assert api_key.value not in repr(api_key)
    assert repr(api_key) == f"<ApiKey 'ci' sk_live_…{api_key.value[-4:]} active>"
    (listed,) = account.list_keys()
    assert listed.id == api_key.id
    assert listed.value == f"sk_live_…{api_key.value[-4:]}"
