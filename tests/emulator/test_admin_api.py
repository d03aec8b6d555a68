"""The admin API under /_emulator offers the Python API's operations to any HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_helios import validate, verify_webhook
from pytest_helios.emulator import HeliosEmulator
from tests.samples import NOWHERE, agent_request

from .conftest import plain_client, post
from .receiver import Receiver


@pytest.fixture
def admin(emulator: HeliosEmulator) -> Iterator[httpx.Client]:
    with plain_client(base_url=emulator.url + "/_emulator") as client:
        yield client


@pytest.fixture
def created(admin: httpx.Client) -> dict[str, Any]:
    response = admin.post("/accounts", json={"name": "acme"})
    assert response.status_code == 201
    return dict(response.json())


def new_key(admin: httpx.Client, account_id: str, name: str = "ci") -> dict[str, Any]:
    response = admin.post(f"/accounts/{account_id}/keys", json={"name": name})
    assert response.status_code == 201
    return dict(response.json())


def call_api(emulator: HeliosEmulator, key: str, webhook_url: str = NOWHERE) -> Any:
    return post(
        emulator.url + "/api/v1/agent",
        headers={"x-api-key": key},
        json=agent_request("light", webhook_url),
    )


def test_creating_an_account_shows_its_webhook_secret_once(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator
) -> None:
    assert created["name"] == "acme"
    assert created["webhookSecret"].startswith("whsec_")
    assert created["baseUrl"] == f"{emulator.url}/accounts/{created['id']}"
    assert created["keys"] == []
    shown = admin.get(f"/accounts/{created['id']}").json()
    assert "webhookSecret" not in shown
    assert emulator.account(created["id"]).webhook_secret == created["webhookSecret"]


def test_a_key_created_over_http_works_and_records_its_use(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator
) -> None:
    key = new_key(admin, created["id"])
    assert key["value"].startswith("sk_live_")
    assert key["lastUsedAt"] is None and key["revoked"] is False
    assert call_api(emulator, key["value"]).status_code == 200
    (listed,) = admin.get(f"/accounts/{created['id']}/keys").json()
    assert listed["id"] == key["id"] and listed["name"] == "ci"
    assert listed["lastUsedAt"] is not None
    assert "value" not in listed


def test_revoking_a_key_over_http_gives_401_revoked(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator
) -> None:
    key = new_key(admin, created["id"])
    revoked = admin.delete(f"/accounts/{created['id']}/keys/{key['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] is True
    response = call_api(emulator, key["value"])
    assert response.json() == {"error": "Unauthorized", "message": "API key has been revoked"}


def test_revoke_all_over_http_counts_the_keys_it_disabled(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator
) -> None:
    keys = [new_key(admin, created["id"], name) for name in ("a", "b")]
    assert admin.post(f"/accounts/{created['id']}/keys/revoke-all", json={}).json() == {
        "revoked": 2
    }
    assert {call_api(emulator, k["value"]).status_code for k in keys} == {401}


def test_regenerating_the_secret_over_http_signs_later_webhooks_with_the_new_one(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator, receiver: Receiver
) -> None:
    key = new_key(admin, created["id"])
    new = admin.post(f"/accounts/{created['id']}/webhook-secret", json={}).json()["webhookSecret"]
    assert new != created["webhookSecret"]
    run_id = call_api(emulator, key["value"], receiver.url).json()["runId"]
    settled = admin.post("/wait", json={"timeout": 10, "runId": run_id}, timeout=15)
    assert settled.json() == {"settled": True, "deliveries": 9}
    for item in receiver.received:
        assert verify_webhook(item.body, item.headers, new)["runId"] == run_id


def test_runs_and_the_delivery_log_are_listed(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator, receiver: Receiver
) -> None:
    key = new_key(admin, created["id"])
    run_id = call_api(emulator, key["value"], receiver.url).json()["runId"]
    waited = admin.post("/wait", json={"timeout": 10, "runId": run_id}, timeout=15)
    assert waited.json()["settled"] is True
    run = admin.get(f"/runs/{run_id}").json()
    assert run["status"] == "completed" and run["agent"] == "light"
    assert run["accountId"] == created["id"]
    log = admin.get("/deliveries", params={"runId": run_id}).json()
    assert [(a["sequenceNumber"], a["attempt"], a["statusCode"], a["ok"]) for a in log] == [
        (n, 1, 200, True) for n in range(1, 10)
    ]
    assert {a["url"] for a in log} == {receiver.url}


def test_provider_states_are_set_over_http(
    admin: httpx.Client, created: dict[str, Any], emulator: HeliosEmulator, receiver: Receiver
) -> None:
    key = new_key(admin, created["id"])
    states = f"/accounts/{created['id']}/states"
    assert admin.post(states, json={"state": "exhaust-concurrency"}).status_code == 200
    assert call_api(emulator, key["value"]).status_code == 429
    admin.post(states, json={"state": "release-concurrency"})
    admin.post(states, json={"state": "fail-next-run", "message": "Boom", "atStep": 2})
    run_id = call_api(emulator, key["value"], receiver.url).json()["runId"]
    waited = admin.post("/wait", json={"timeout": 10, "runId": run_id}, timeout=15)
    assert waited.json()["settled"] is True
    last = emulator.deliveries_for(run_id)[-1].payload
    validate("webhook-error", last)
    assert (last["sequenceNumber"], last["error"]["message"]) == (2, "Boom")


@pytest.mark.parametrize(
    ("path", "body", "details"),
    [
        ("/accounts", {}, [{"field": "name", "message": "is required"}]),
        ("/accounts", {"name": 3}, [{"field": "name", "message": "expected string"}]),
        (
            "/accounts",
            {"name": " "},
            [{"field": "", "message": "an account needs a non-empty name"}],
        ),
    ],
)
def test_bad_admin_requests_get_a_validation_error(
    admin: httpx.Client, path: str, body: dict[str, Any], details: list[dict[str, str]]
) -> None:
    response = admin.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["details"] == details


def test_an_unknown_provider_state_lists_the_valid_ones(
    admin: httpx.Client, created: dict[str, Any]
) -> None:
    response = admin.post(f"/accounts/{created['id']}/states", json={"state": "explode"})
    assert response.json()["details"] == [
        {
            "field": "state",
            "message": "unknown state 'explode'; valid states: fail-next-run, exhaust-concurrency, "
            "release-concurrency, slow-deliveries, drop-deliveries, "
            "regenerate-secret-during-next-run, next-result, fault-requests, reorder-next-run, "
            "duplicate-deliveries, bad-signatures, end-faults",
        }
    ]


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/accounts/acct_nope", "No account 'acct_nope' on this emulator"),
        ("GET", "/runs/nope", "No run 'nope' on this emulator"),
    ],
)
def test_unknown_admin_objects_are_404(
    admin: httpx.Client, method: str, path: str, message: str
) -> None:
    response = admin.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "message": message}


def test_revoking_an_unknown_key_is_404(admin: httpx.Client, created: dict[str, Any]) -> None:
    response = admin.delete(f"/accounts/{created['id']}/keys/key_nope")
    assert response.json() == {
        "error": "Not Found",
        "message": f"Account {created['id']} has no key 'key_nope'",
    }


def test_the_health_route_answers(admin: httpx.Client) -> None:
    assert admin.get("/health").json() == {"status": "ok"}
