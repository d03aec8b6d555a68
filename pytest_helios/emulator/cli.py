"""``helios-emulator``: run the emulator from a shell, for clients in any language.

It starts the emulator on loopback, creates an account with one key, prints the base URL, the key
and the webhook secret (emulator-only values, made up at start), and serves until Ctrl+C or
SIGTERM. ``--json`` prints the same facts as one JSON line, for scripts. Webhooks go to loopback
only unless ``--webhook-host`` allows another host.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pytest_helios.facts import CONCURRENCY_LIMIT

from .admin import ADMIN_PREFIX
from .request_checks import UNKNOWN_FIELDS, WebhookTargets, is_loopback
from .service import NOT_LOOPBACK, HeliosEmulator


def _loopback(value: str) -> str:
    if not is_loopback(value):
        raise argparse.ArgumentTypeError(NOT_LOOPBACK.format(value))
    return value


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0-65535; 0: any free)")
    return int(value)


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of 0 or more")
    return number


def _webhook_host(value: str) -> str:
    try:
        WebhookTargets.of([value])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return int(value)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="helios-emulator",
        description="Run the embedded Helios API emulator on loopback until interrupted.",
    )
    p.add_argument("--host", type=_loopback, default="127.0.0.1", help="default: 127.0.0.1")
    p.add_argument("--port", type=_port, default=0, help="default: 0, any free port")
    p.add_argument("--account", default="emulator", help="name of the ready account")
    p.add_argument("--key-name", default="default", help="name of the ready API key")
    p.add_argument(
        "--concurrency-limit",
        type=_positive_int,
        default=CONCURRENCY_LIMIT,
        help=f"per agent type (default {CONCURRENCY_LIMIT})",
    )
    p.add_argument(
        "--time-scale",
        type=_non_negative,
        default=0.0,
        help="runs take their documented minutes times this (default 0: at once)",
    )
    p.add_argument("--require-https", action="store_true", help="refuse http:// webhook URLs")
    p.add_argument(
        "--unknown-fields",
        choices=UNKNOWN_FIELDS,
        default="strict",
        help="a request field or patientContext key the documentation does not list: "
        "strict refuses it with a 400 (default), lenient accepts and ignores it",
    )
    p.add_argument(
        "--webhook-host",
        dest="webhook_hosts",
        action="append",
        type=_webhook_host,
        default=[],
        metavar="HOST",
        help="a host other than loopback that webhooks may go to (repeatable; *.example.org: "
        "its subdomains; *: any host). Default: loopback only",
    )
    p.add_argument("--delivery-attempts", type=_positive_int, default=4)
    p.add_argument("--delivery-backoff", type=_non_negative, default=0.05, help="seconds")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    emulator = HeliosEmulator(
        host=args.host,
        port=args.port,
        concurrency_limit=args.concurrency_limit,
        time_scale=args.time_scale,
        require_https=args.require_https,
        unknown_fields=args.unknown_fields,
        delivery_attempts=args.delivery_attempts,
        delivery_backoff=args.delivery_backoff,
        webhook_hosts=args.webhook_hosts,
    )
    try:
        emulator.start()
    except OSError as exc:
        print(f"helios-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        account = emulator.create_account(args.account)
        key = account.create_key(args.key_name)
        facts = {
            "url": emulator.url,
            "accountId": account.id,
            "accountUrl": account.base_url,
            "apiKey": key.value,
            "webhookSecret": account.webhook_secret,
            "adminUrl": emulator.url + ADMIN_PREFIX,
        }
        if args.json:
            print(json.dumps(facts), flush=True)
        else:
            print(
                f"Helios emulator ready at {facts['url']}\n"
                f"  x-api-key:      {facts['apiKey']}\n"
                f"  webhook secret: {facts['webhookSecret']}\n"
                f"  account:        {facts['accountId']} ({args.account})\n"
                f"  account URL:    {facts['accountUrl']}\n"
                f"  admin API:      {facts['adminUrl']}\n"
                "These values exist only in this emulator. Press Ctrl+C to stop.",
                flush=True,
            )
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not args.json:
        print("Helios emulator stopped.", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    raise SystemExit(main())
