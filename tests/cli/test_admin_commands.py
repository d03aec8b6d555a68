"""``helios accounts``, ``keys`` and ``secret`` manage a running emulator through its admin API."""

from __future__ import annotations

import json

import httpx
import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request

from .conftest import closed_port_url, helios


def at(emulator: HeliosEmulator) -> dict[str, str]:
    return {"HELIOS_EMULATOR_URL": emulator.url}


def test_accounts_create_prints_the_account_and_its_webhook_secret_once(
    emulator: HeliosEmulator,
) -> None:
    ran = helios("accounts", "create", "acme", env=at(emulator))
    (account,) = emulator.accounts
    assert (ran.status, ran.err) == (0, "")
    assert ran.out == (
        f"Created account {account.id} (acme)\n"
        f"  base URL:       {account.base_url}\n"
        f"  webhook secret: {account.webhook_secret}\n"
        "The webhook secret is shown once; `helios secret regenerate` makes a new one.\n"
    )


def test_accounts_create_json_is_what_the_admin_api_answered(emulator: HeliosEmulator) -> None:
    ran = helios("accounts", "create", "acme", "--json", "--emulator", emulator.url)
    answer = json.loads(ran.out)
    (account,) = emulator.accounts
    assert answer["id"] == account.id
    assert answer["webhookSecret"] == account.webhook_secret
    assert set(answer) == {"id", "name", "baseUrl", "createdAt", "keys", "webhookSecret"}


def test_accounts_list_shows_every_account_without_secrets(emulator: HeliosEmulator) -> None:
    first, second = emulator.create_account("one"), emulator.create_account("two")
    first.create_key("k")
    ran = helios("accounts", "list", env=at(emulator))
    assert ran.out.splitlines() == [
        f"ID{' ' * (len(first.id) - 2)}  NAME  KEYS  BASE URL",
        f"{first.id}  one   1     {first.base_url}",
        f"{second.id}  two   0     {second.base_url}",
    ]
    listed = json.loads(helios("accounts", "list", "--json", env=at(emulator)).out)
    assert [set(a) for a in listed] == [{"id", "name", "baseUrl", "createdAt"}] * 2
    assert "whsec_" not in ran.out + json.dumps(listed)


def test_keys_create_prints_the_key_once_and_list_shows_it_masked_and_when_it_was_used(
    emulator: HeliosEmulator,
) -> None:
    account = emulator.create_account("acme")
    created = helios("keys", "create", "ci", env=at(emulator))
    (key,) = account.list_keys()
    value = created.out.splitlines()[1].strip()
    assert created.out == (
        f"Created key {key.id} (ci) of account {account.id}:\n"
        f"  {value}\n"
        "It is shown once; `helios keys list` shows it masked.\n"
    )
    unused = helios("keys", "list", env=at(emulator))
    assert unused.out.splitlines()[2].split()[-2:] == ["never", "no"]

    answer = httpx.post(
        f"{emulator.url}/api/v1/agent", headers={"x-api-key": value}, json=agent_request()
    )
    assert answer.status_code == 200
    listed = helios("keys", "list", "--json", env=at(emulator))
    (shown,) = json.loads(listed.out)
    assert shown["key"] == f"sk_live_…{value[-4:]}"
    assert shown["lastUsedAt"] is not None
    text = helios("keys", "list", env=at(emulator)).out
    assert text.splitlines()[:2] == [
        f"Keys of account {account.id} (acme):",
        "ID                    NAME  KEY            CREATED               "
        "LAST USED             REVOKED",
    ]
    row = text.splitlines()[2].split()
    assert row[:3] == [key.id, "ci", f"sk_live_…{value[-4:]}"]
    assert row[4].endswith("Z") and row[5] == "no"
    assert value not in listed.out + text


def test_keys_revoke_and_revoke_all_disable_keys(emulator: HeliosEmulator) -> None:
    account = emulator.create_account("acme")
    first, *_ = (account.create_key(name) for name in ("a", "b", "c"))
    ran = helios("keys", "revoke", first.id, "--account", "acme", env=at(emulator))
    assert ran.out == f"Revoked key {first.id} (a) of account {account.id}\n"
    refused = httpx.post(
        f"{emulator.url}/api/v1/agent", headers={"x-api-key": first.value}, json=agent_request()
    )
    assert refused.json()["message"] == "API key has been revoked"

    ran = helios("keys", "revoke-all", "--account", account.id, "--json", env=at(emulator))
    assert json.loads(ran.out) == {"revoked": 2, "accountId": account.id}
    assert all(k.revoked for k in account.list_keys())


def test_secret_regenerate_prints_the_secret_the_emulator_now_signs_with(
    emulator: HeliosEmulator,
) -> None:
    account = emulator.create_account("acme")
    before = account.webhook_secret
    ran = helios("secret", "regenerate", env=at(emulator))
    assert ran.out == (
        f"New webhook secret of account {account.id}:\n"
        f"  {account.webhook_secret}\n"
        "The previous secret no longer verifies; this one is shown once.\n"
    )
    assert account.webhook_secret != before
    answer = json.loads(helios("secret", "regenerate", "--json", env=at(emulator)).out)
    assert answer == {"webhookSecret": account.webhook_secret, "accountId": account.id}


def test_several_accounts_need_account_and_an_unknown_one_lists_the_valid_ones(
    emulator: HeliosEmulator,
) -> None:
    one, two = emulator.create_account("one"), emulator.create_account("two")
    ran = helios("keys", "list", env=at(emulator))
    assert (ran.status, ran.out) == (2, "")
    assert ran.err == (
        "helios keys list: error: the emulator has 2 accounts: pass --account with one of: "
        f"{one.id} (one), {two.id} (two)\n"
    )
    ran = helios("keys", "create", "k", "--account", "three", env=at(emulator))
    assert ran.err == (
        "helios keys create: error: --account: no account 'three' on the emulator; valid "
        f"accounts: {one.id} (one), {two.id} (two)\n"
    )


def test_an_emulator_without_accounts_says_how_to_create_one(emulator: HeliosEmulator) -> None:
    ran = helios("secret", "regenerate", env=at(emulator))
    assert ran.err == (
        "helios secret regenerate: error: the emulator has no account: create one with "
        "`helios accounts create NAME`\n"
    )


def test_an_unknown_key_is_the_emulators_404(emulator: HeliosEmulator) -> None:
    account = emulator.create_account("acme")
    ran = helios("keys", "revoke", "key_nope", env=at(emulator))
    assert ran.status == 1
    assert ran.err == (
        "helios keys revoke: error: the emulator answered 404: "
        f"Account {account.id} has no key 'key_nope'\n"
    )


def test_an_unreachable_emulator_names_its_url_and_how_to_start_one() -> None:
    url = closed_port_url()
    ran = helios("keys", "list", "--emulator", url)
    assert (ran.status, ran.out) == (1, "")
    assert ran.err == (
        f"helios keys list: error: cannot reach a Helios emulator at {url} (connection "
        "refused). Start one with `helios emulator` (it prints its URL) and pass that URL with "
        "--emulator or HELIOS_EMULATOR_URL\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "no emulator URL: pass --emulator URL or set HELIOS_EMULATOR_URL. Start one with "
            "`helios emulator`, which prints its URL",
        ),
        (
            ["--emulator", "127.0.0.1:8000"],
            "--emulator: '127.0.0.1:8000' is not an http:// or https:// URL",
        ),
    ],
    ids=["no-url", "not-a-url"],
)
def test_a_missing_or_bad_emulator_url_names_the_option(args: list[str], message: str) -> None:
    ran = helios("accounts", "list", *args)
    assert (ran.status, ran.err) == (2, f"helios accounts list: error: {message}\n")
