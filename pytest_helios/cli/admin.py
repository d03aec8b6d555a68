"""``helios accounts``, ``helios keys``, ``helios secret``: the dashboard of a running emulator.

Each command is one or two requests to the emulator's HTTP admin API (``/_emulator``, see
docs/emulator.md) at ``--emulator URL`` (default: ``HELIOS_EMULATOR_URL``). ``--account`` takes
an account's id or its name and may be left out when the emulator has one account, as the one
``helios emulator`` makes. A key or a webhook secret is printed whole only by the command that
creates it, once, as the dashboard shows it; ``keys list`` shows every key masked.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from pytest_helios.masking import mask_secret

from ._common import (
    EMULATOR_VARIABLE,
    FAILED,
    CommandError,
    describe_transport_error,
    http_url,
    json_option,
    print_json,
    table,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["AdminClient", "register"]

_START_ONE = (
    "Start one with `helios emulator` (it prints its URL) and pass that URL with --emulator "
    f"or {EMULATOR_VARIABLE}"
)


class AdminClient:
    """The admin API of the emulator at ``url`` (its base URL; the admin URL is taken too)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        from pytest_helios.emulator.admin import ADMIN_PREFIX

        self.url = url.rstrip("/").removesuffix(ADMIN_PREFIX)
        self.admin_url = self.url + ADMIN_PREFIX
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer to ``method path``; a `CommandError` naming the emulator otherwise."""
        import httpx

        try:
            response = httpx.request(
                method,
                self.admin_url + path,
                content=b"" if body is None else json.dumps(body).encode("utf-8"),
                # the admin API takes a change only as JSON, even without a body
                headers={} if method == "GET" else {"Content-Type": "application/json"},
                timeout=self.timeout,
                verify=self.url.startswith("https:"),  # certificates matter only to https
            )
        except httpx.TransportError as exc:
            raise CommandError(
                f"cannot reach a Helios emulator at {self.url} "
                f"({describe_transport_error(exc)}). {_START_ONE}",
                FAILED,
            ) from None
        answer = _json_of(response)
        if response.status_code >= 400 or answer is None:
            message = answer.get("message") if isinstance(answer, dict) else None
            if message is None:
                raise CommandError(
                    f"{self.url} does not answer as a Helios emulator "
                    f"({method} {path} got {response.status_code}). {_START_ONE}",
                    FAILED,
                )
            raise CommandError(f"the emulator answered {response.status_code}: {message}", FAILED)
        return answer

    def account(self, chosen: str | None) -> dict[str, Any]:
        """The account whose id or name is ``chosen``; the only one when ``chosen`` is None."""
        accounts: list[dict[str, Any]] = self.call("GET", "/accounts")
        if chosen is None:
            if len(accounts) == 1:
                return accounts[0]
            if not accounts:
                raise CommandError(
                    "the emulator has no account: create one with `helios accounts create NAME`"
                )
            raise CommandError(
                f"the emulator has {len(accounts)} accounts: pass --account with one of: "
                + _account_names(accounts)
            )
        by_id = [a for a in accounts if a["id"] == chosen]
        by_name = [a for a in accounts if a["name"] == chosen]
        if by_id or len(by_name) == 1:
            return (by_id or by_name)[0]
        if by_name:
            raise CommandError(
                f"--account: {len(by_name)} accounts are named {chosen!r}: pass an id, one of: "
                + ", ".join(a["id"] for a in by_name)
            )
        raise CommandError(
            f"--account: no account {chosen!r} on the emulator; valid accounts: "
            + (_account_names(accounts) or "none (create one with `helios accounts create NAME`)")
        )


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _account_names(accounts: list[dict[str, Any]]) -> str:
    return ", ".join(f"{a['id']} ({a['name']})" for a in accounts)


def _client(args: argparse.Namespace) -> AdminClient:
    url = args.emulator or os.environ.get(EMULATOR_VARIABLE, "")
    if not url:
        raise CommandError(
            f"no emulator URL: pass --emulator URL or set {EMULATOR_VARIABLE}. "
            "Start one with `helios emulator`, which prints its URL"
        )
    try:
        http_url(url)
    except argparse.ArgumentTypeError as exc:
        source = "--emulator" if args.emulator else EMULATOR_VARIABLE
        raise CommandError(f"{source}: {exc}") from None
    return AdminClient(url)


def _when(moment: str | None, never: str = "-") -> str:
    """An ISO timestamp of the admin API to the second (``2025-01-19T12:05:00Z``)."""
    return never if moment is None else moment[:19] + "Z"


def _masked(value: str) -> str:
    """A key as ``keys list`` shows it: masked, whatever form the emulator gave."""
    return value if "…" in value else mask_secret(value)


# --- accounts ----------------------------------------------------------------------------


def _accounts_create(args: argparse.Namespace) -> int:
    account = _client(args).call("POST", "/accounts", {"name": args.name})
    if args.json:
        print_json(account)
        return 0
    print(
        f"Created account {account['id']} ({account['name']})\n"
        f"  base URL:       {account['baseUrl']}\n"
        f"  webhook secret: {account['webhookSecret']}\n"
        "The webhook secret is shown once; `helios secret regenerate` makes a new one.",
        flush=True,
    )
    return 0


def _accounts_list(args: argparse.Namespace) -> int:
    accounts = _client(args).call("GET", "/accounts")
    if args.json:
        print_json([{k: v for k, v in a.items() if k != "keys"} for a in accounts])
        return 0
    rows = [[a["id"], a["name"], str(len(a["keys"])), a["baseUrl"]] for a in accounts]
    print(table(["ID", "NAME", "KEYS", "BASE URL"], rows), flush=True)
    return 0


# --- keys --------------------------------------------------------------------------------


def _keys_create(args: argparse.Namespace) -> int:
    client = _client(args)
    account = client.account(args.account)
    key = client.call("POST", f"/accounts/{account['id']}/keys", {"name": args.name})
    if args.json:
        print_json({**key, "accountId": account["id"]})
        return 0
    print(
        f"Created key {key['id']} ({key['name']}) of account {account['id']}:\n"
        f"  {key['value']}\n"
        "It is shown once; `helios keys list` shows it masked.",
        flush=True,
    )
    return 0


def _key_row(key: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in key.items() if k != "value"}
    return {**shown, "key": _masked(key["value"])}


def _keys_list(args: argparse.Namespace) -> int:
    account = _client(args).account(args.account)
    keys = [_key_row(k) for k in account["keys"]]
    if args.json:
        print_json(keys)
        return 0
    rows = [
        [
            k["id"],
            k["name"],
            k["key"],
            _when(k["createdAt"]),
            _when(k["lastUsedAt"], "never"),
            _when(k["revokedAt"]) if k["revoked"] else "no",
        ]
        for k in keys
    ]
    headers = ["ID", "NAME", "KEY", "CREATED", "LAST USED", "REVOKED"]
    print(f"Keys of account {account['id']} ({account['name']}):", flush=True)
    print(table(headers, rows) if rows else "  none", flush=True)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    client = _client(args)
    account = client.account(args.account)
    key = client.call("DELETE", f"/accounts/{account['id']}/keys/{args.key_id}")
    if args.json:
        print_json(key)
        return 0
    print(f"Revoked key {key['id']} ({key['name']}) of account {account['id']}", flush=True)
    return 0


def _keys_revoke_all(args: argparse.Namespace) -> int:
    client = _client(args)
    account = client.account(args.account)
    answer = client.call("POST", f"/accounts/{account['id']}/keys/revoke-all")
    if args.json:
        print_json({**answer, "accountId": account["id"]})
        return 0
    print(f"Revoked {answer['revoked']} key(s) of account {account['id']}", flush=True)
    return 0


# --- secret ------------------------------------------------------------------------------


def _secret_regenerate(args: argparse.Namespace) -> int:
    client = _client(args)
    account = client.account(args.account)
    answer = client.call("POST", f"/accounts/{account['id']}/webhook-secret")
    if args.json:
        print_json({**answer, "accountId": account["id"]})
        return 0
    print(
        f"New webhook secret of account {account['id']}:\n"
        f"  {answer['webhookSecret']}\n"
        "The previous secret no longer verifies; this one is shown once.",
        flush=True,
    )
    return 0


# --- the parsers -------------------------------------------------------------------------


def _common_options(parser: argparse.ArgumentParser, *, account: bool) -> None:
    parser.add_argument(
        "--emulator",
        metavar="URL",
        help=f"the emulator's base URL (default: the {EMULATOR_VARIABLE} environment variable)",
    )
    if account:
        parser.add_argument(
            "--account",
            metavar="ACCOUNT",
            help="the account's id or name (default: the emulator's only account)",
        )
    json_option(parser)


def _leaf(group: Any, name: str, help: str, run: Any, *, account: bool = True) -> Any:
    parser = group.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    _common_options(parser, account=account)
    parser.set_defaults(run=run, prog=parser.prog)
    return parser


def register(commands: Any) -> None:
    accounts = commands.add_parser("accounts", help="create and list the emulator's accounts")
    group = accounts.add_subparsers(dest="action", metavar="ACTION", required=True)
    _leaf(
        group,
        "create",
        "create an account; prints its webhook secret once",
        _accounts_create,
        account=False,
    ).add_argument("name", metavar="NAME")
    _leaf(group, "list", "list the accounts", _accounts_list, account=False)

    keys = commands.add_parser("keys", help="create, list and revoke an account's API keys")
    group = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    _leaf(group, "create", "create an API key; prints it once", _keys_create).add_argument(
        "name", metavar="NAME"
    )
    _leaf(
        group, "list", "list the keys, masked, with when each was created and last used", _keys_list
    )
    _leaf(group, "revoke", "revoke one key", _keys_revoke).add_argument(
        "key_id", metavar="KEY_ID", help="the key's id, as `helios keys list` shows it"
    )
    _leaf(group, "revoke-all", "revoke every key of the account", _keys_revoke_all)

    secret = commands.add_parser("secret", help="regenerate an account's webhook secret")
    group = secret.add_subparsers(dest="action", metavar="ACTION", required=True)
    _leaf(
        group,
        "regenerate",
        "make a new webhook secret; the old one stops verifying",
        _secret_regenerate,
    )
