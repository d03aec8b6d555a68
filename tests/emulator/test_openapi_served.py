"""The emulator serves the generated OpenAPI 3.1 document at ``GET /openapi.json``."""

from __future__ import annotations

from openapi_spec_validator import validate as validate_openapi

from pytest_helios.emulator import Account, HeliosEmulator
from pytest_helios.payloads import openapi_document

from .conftest import get, post


def test_the_emulator_serves_a_valid_document_naming_itself(emulator: HeliosEmulator) -> None:
    response = get(f"{emulator.url}/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert list(document["paths"]) == ["/api/v1/agent", "/api/v1/lab-results"]
    assert document["servers"] == [
        {"url": emulator.url, "description": "the pytest-helios emulator"}
    ]
    assert document == openapi_document(emulator.url)


def test_an_account_base_url_serves_it_naming_the_account(
    emulator: HeliosEmulator, account: Account
) -> None:
    response = get(f"{account.base_url}/openapi.json?refresh=1")

    assert response.status_code == 200
    assert response.json()["servers"][0]["url"] == account.base_url


def test_an_unknown_account_is_a_404(emulator: HeliosEmulator) -> None:
    response = get(f"{emulator.url}/accounts/acct_nobody/openapi.json")

    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": "No account 'acct_nobody' on this emulator",
    }


def test_only_get_is_allowed(emulator: HeliosEmulator) -> None:
    response = post(f"{emulator.url}/openapi.json", json={})

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_the_live_document_still_names_the_live_api() -> None:
    assert openapi_document()["servers"] == [
        {"url": "https://api.heliosai.health", "description": "the live API"}
    ]
