"""The admin API answers requests addressed to the emulator on loopback only (no DNS rebinding),
and its calls that change something refuse what a browser sends from another site."""

from __future__ import annotations

import json
import socket
from contextlib import closing

import pytest

from pytest_helios.emulator import Account, HeliosEmulator


def raw(
    emulator: HeliosEmulator,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str]]:
    """One request with exactly these headers (``Host`` included): status and JSON body."""
    port = int(emulator.url.rsplit(":", 1)[1])
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    with closing(socket.create_connection(("127.0.0.1", port), timeout=10)) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(content)


def own_host(emulator: HeliosEmulator) -> str:
    return emulator.url.removeprefix("http://")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_emulator/accounts/{id}/keys", b'{"name": "minted"}'),
        ("GET", "/_emulator/accounts/{id}/keys", b""),
        ("POST", "/_emulator/accounts/{id}/webhook-secret", b"{}"),
        ("POST", "/_emulator/forget", b"{}"),
    ],
)
def test_a_request_addressed_to_another_host_is_refused(
    emulator: HeliosEmulator, account: Account, method: str, path: str, body: bytes
) -> None:
    """A page on attacker.example whose name now resolves to 127.0.0.1 (DNS rebinding)."""
    port = emulator.url.rsplit(":", 1)[1]
    secret = account.webhook_secret
    status, answer = raw(
        emulator,
        method,
        path.format(id=account.id),
        {"Host": f"attacker.example:{port}", "Content-Type": "application/json"},
        body,
    )
    assert status == 403
    assert answer == {
        "error": "Forbidden",
        "message": "The admin API answers only requests addressed to the emulator on loopback "
        f"(Host 127.0.0.1:{port} or [::1]:{port} or localhost:{port}); "
        f"got Host 'attacker.example:{port}'",
    }
    assert account.list_keys() == [] and account.webhook_secret == secret


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"])
def test_loopback_names_with_the_emulators_port_are_served(
    emulator: HeliosEmulator, account: Account, name: str
) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    status, answer = raw(
        emulator,
        "POST",
        f"/_emulator/accounts/{account.id}/keys",
        {"Host": f"{name}:{port}", "Content-Type": "application/json"},
        b'{"name": "ci"}',
    )
    assert status == 201 and answer["name"] == "ci"


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CROSS_SITE = {"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        (
            FORM,
            415,
            "Admin calls that change something need Content-Type: application/json, even "
            "without a body (browser form posts are refused); got "
            "application/x-www-form-urlencoded",
        ),
        (
            {"Content-Type": "text/plain"},
            415,
            "Admin calls that change something need Content-Type: application/json, even "
            "without a body (browser form posts are refused); got text/plain",
        ),
        (
            {},
            415,
            "Admin calls that change something need Content-Type: application/json, even "
            "without a body (browser form posts are refused); got none",
        ),
        (
            {**FORM, **CROSS_SITE},
            403,
            "The admin API refuses calls a browser sends from another site "
            "(Sec-Fetch-Site: cross-site)",
        ),
        (
            {"Content-Type": "application/json", "Origin": "http://attacker.example"},
            403,
            "The admin API refuses calls a browser sends from another origin "
            "(Origin: http://attacker.example)",
        ),
    ],
)
def test_a_state_changing_call_a_browser_could_send_cross_site_is_refused(
    emulator: HeliosEmulator, headers: dict[str, str], status: int, message: str
) -> None:
    """A form on another site posting to /_emulator/forget, as a browser would send it."""
    answered = raw(
        emulator, "POST", "/_emulator/forget", {"Host": own_host(emulator), **headers}, b"a=1"
    )
    titles = {403: "Forbidden", 415: "Unsupported Media Type"}
    assert answered == (status, {"error": titles[status], "message": message})


def test_a_same_origin_json_call_is_served(emulator: HeliosEmulator) -> None:
    origin = emulator.url
    status, answer = raw(
        emulator,
        "POST",
        "/_emulator/forget",
        {
            "Host": own_host(emulator),
            "Content-Type": "application/json",
            "Origin": origin,
            "Sec-Fetch-Site": "same-origin",
        },
        b"{}",
    )
    assert status == 200 and set(answer) == {"runs", "deliveries"}
