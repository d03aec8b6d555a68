"""Webhooks go to loopback only, unless the user allows another host, and never to the emulator
itself: a fixture holding a production URL cannot send it fake signed webhooks, and one
account's runs cannot call the admin API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_helios.emulator import HeliosEmulator
from tests.samples import agent_request

from .conftest import post_as
from .receiver import Receiver

NOT_ALLOWED = (
    "host 'example.org' is not loopback and not allowed: the emulator delivers webhooks to "
    "loopback only, unless the host is allowed with HeliosEmulator(webhook_hosts=[...]), "
    "helios-emulator --webhook-host HOST, or for the pytest fixture --helios-webhook-hosts / "
    "ini helios_webhook_hosts"
)
ITSELF = (
    "points at the emulator itself; webhooks never go to the emulator's own address "
    "(its API or its admin API)"
)


class Lookups:
    """Every host name this process looked up, and every address it connected to; a name
    in ``fake`` resolves to 127.0.0.1, and nothing ever leaves loopback."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.fake: set[str] = set()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lookups]:
    seen = Lookups()
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        seen.names.append(name)
        if name in seen.fake:
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        if name not in ("localhost", "127.0.0.1", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: no lookups outside loopback here")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield seen


def test_a_webhook_url_on_another_host_is_refused_at_submit_naming_the_setting(
    emulator: HeliosEmulator, lookups: Lookups
) -> None:
    account = emulator.create_account("production url")
    key = account.create_key("ci").value
    response = post_as(key, emulator.url, body=agent_request("light", "https://example.org/hook"))
    assert response.status_code == 400
    assert response.json()["details"] == [{"field": "webhookUrl", "message": NOT_ALLOWED}]
    assert [r for r in emulator.runs if r.account_id == account.id] == []
    assert "example.org" not in lookups.names


def test_a_reserved_name_is_accepted_and_never_looked_up_or_sent_to(
    lookups: Lookups,
) -> None:
    with HeliosEmulator() as emu:
        key = emu.create_account("reserved").create_key("ci").value
        response = post_as(
            key, emu.url, body=agent_request("light", "https://hooks.example.test/h")
        )
        assert response.status_code == 200
        attempts = emu.wait_for_deliveries(run_id=response.json()["runId"])
    assert {(a.attempt, a.status_code, a.error) for a in attempts} == {
        (1, None, "refused: hooks.example.test is a reserved name that never resolves; "
         "nothing was sent")
    }  # fmt: skip
    assert len(attempts) == 9  # once each: a refusal is never retried
    assert "hooks.example.test" not in lookups.names


def test_an_allowed_host_receives_the_runs_webhooks(receiver: Receiver, lookups: Lookups) -> None:
    """``hooks.example.org`` resolves to this machine here: allowing it is what lets a run
    deliver there."""
    lookups.fake.add("hooks.example.org")
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"https://hooks.example.org:{port}/webhook"
    with HeliosEmulator(webhook_hosts=["*.example.org"], delivery_attempts=1) as emu:
        key = emu.create_account("allowed").create_key("ci").value
        response = post_as(key, emu.url, body=agent_request("light", url))
        assert response.status_code == 200
        (first, *_) = emu.wait_for_deliveries(run_id=response.json()["runId"])
    assert "hooks.example.org" in lookups.names
    # it got there: the receiver speaks plain HTTP, so the TLS handshake fails
    assert first.error is not None
    assert first.error.startswith("connection failed: [SSL:"), first.error


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_run_cannot_call_the_admin_api_through_its_webhook_url(
    emulator: HeliosEmulator, host: str
) -> None:
    attacker = emulator.create_account("attacker").create_key("ci").value
    victim = emulator.create_account("victim")
    victim_key = victim.create_key("ci").value
    secret = victim.webhook_secret
    port = emulator.url.rsplit(":", 1)[1]
    for path in (
        f"/_emulator/accounts/{victim.id}/keys/revoke-all",
        f"/_emulator/accounts/{victim.id}/webhook-secret",
    ):
        url = f"http://{host}:{port}{path}"
        response = post_as(attacker, emulator.url, body=agent_request("light", url))
        assert response.status_code == 400
        assert response.json()["details"] == [{"field": "webhookUrl", "message": ITSELF}]
    assert post_as(victim_key, emulator.url).status_code == 200
    assert victim.webhook_secret == secret


def test_a_name_that_resolves_to_the_emulator_itself_is_never_connected_to(
    lookups: Lookups,
) -> None:
    """Whatever is allowed: the check is made again on the address the name resolves to."""
    lookups.fake.add("rebound.example.org")
    with HeliosEmulator(webhook_hosts=["*"]) as emu:
        victim = emu.create_account("victim")
        secret = victim.webhook_secret
        port = emu.url.rsplit(":", 1)[1]
        url = f"https://rebound.example.org:{port}/_emulator/accounts/{victim.id}/webhook-secret"
        key = emu.create_account("attacker").create_key("ci").value
        response = post_as(key, emu.url, body=agent_request("light", url))
        assert response.status_code == 200
        attempts = emu.wait_for_deliveries(run_id=response.json()["runId"])
    assert {a.error for a in attempts} == {
        f"refused: rebound.example.org:{port} is the emulator itself; webhooks never go to "
        "the emulator's own address"
    }
    assert victim.webhook_secret == secret


@pytest.mark.parametrize(
    "entry", ["https://hooks.example.org", "hooks.example.org:443", "hooks.example.org/h", ""]
)
def test_a_webhook_host_that_is_not_a_host_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError) as refused:
        HeliosEmulator(webhook_hosts=[entry])
    assert str(refused.value) == (
        f"{entry!r} is not a valid webhook host. Valid values: a host name or IP address "
        "without scheme, port or path (api.example.org, 10.0.0.5), *.example.org for its "
        "subdomains, or * for any host"
    )
