"""``helios sign`` and ``helios verify``: a body's signature headers, a saved delivery's verdict.

``sign`` prints the headers Helios sends with a body (`pytest_helios.sign_webhook`), one
``Name: value`` per line. ``verify`` checks a delivery saved to files with
`pytest_helios.verify_webhook`, in one of two forms:

- the raw body in FILE and its headers in ``--headers HEADERS_FILE``, one ``Name: value`` per
  line (what ``sign`` prints; blank lines and a leading request line ``POST /hook HTTP/1.1`` are
  skipped);
- a JSON delivery in FILE: ``{"body": "<UTF-8 text>", "headers": {...}}``, or ``"body_base64"``
  for bytes that are not text; ``headers`` is an object or a list of ``[name, value]`` pairs.

It exits 0 and prints what the payload is, or exits 1 naming the `WebhookVerificationError`
subclass and its reason.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import time
import uuid
from typing import Any

from pytest_helios.facts import TIMESTAMP_TOLERANCE
from pytest_helios.masking import shorten

from ._common import (
    FAILED,
    CommandError,
    json_option,
    non_negative_int,
    print_json,
    read_input,
    secret_option,
    webhook_secrets,
)

__all__ = ["parse_header_lines", "read_json_delivery", "register"]

Headers = list[tuple[str, str]]
_REQUEST_LINE = re.compile(r"[A-Z]+ \S+ HTTP/\d(\.\d)?\Z")
_JSON_DELIVERY = (
    'a JSON delivery ({"body": "...", "headers": {...}}, or "body_base64" for bytes); '
    "for a raw body, give its headers with --headers HEADERS_FILE"
)


def parse_header_lines(data: bytes, source: str) -> Headers:
    """The ``(name, value)`` pairs of a headers file, one ``Name: value`` per line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{source} is not UTF-8 text") from None
    headers: Headers = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        if not line.strip() or (not headers and _REQUEST_LINE.match(line)):
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise CommandError(
                f"{source}, line {number}: expected `Name: value`, got {shorten(line, 60)!r}"
            )
        headers.append((name, value.strip(" \t")))
    return headers


def read_json_delivery(data: bytes, source: str) -> tuple[bytes, Headers]:
    """The body and headers of a JSON delivery file (see the module's docstring)."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        document = None
    if (
        not isinstance(document, dict)
        or "headers" not in document
        or ("body" in document) == ("body_base64" in document)
    ):
        raise CommandError(f"{source} is not {_JSON_DELIVERY}")
    return _body_of(document, source), _headers_of(document["headers"], source)


def _body_of(document: dict[str, Any], source: str) -> bytes:
    if "body" in document:
        if not isinstance(document["body"], str):
            raise CommandError(f'{source}: "body" must be a string (or use "body_base64")')
        return document["body"].encode("utf-8")
    try:
        return base64.b64decode(document["body_base64"], validate=True)
    except (TypeError, binascii.Error):
        raise CommandError(f'{source}: "body_base64" is not base64') from None


def _headers_of(given: Any, source: str) -> Headers:
    pairs = list(given.items()) if isinstance(given, dict) else given
    if not isinstance(pairs, list) or not all(
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and all(isinstance(part, str) for part in pair)
        for pair in pairs
    ):
        raise CommandError(
            f'{source}: "headers" must be an object of strings or a list of [name, value] pairs'
        )
    return [(name, value) for name, value in pairs]


# --- sign --------------------------------------------------------------------------------


def _run_id(value: str) -> str:
    if not value or not value.isascii() or not value.isprintable():
        raise argparse.ArgumentTypeError(f"{value!r} is not printable ASCII")
    return value


def _body_run_id(body: bytes) -> str | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    found = payload.get("runId") if isinstance(payload, dict) else None
    if isinstance(found, str) and found.isascii() and found.isprintable() and found:
        return found
    return None


def _sign(args: argparse.Namespace) -> int:
    from pytest_helios import sign_webhook

    (secret,) = webhook_secrets(args.secret)
    body = read_input(args.file)
    timestamp = int(time.time()) if args.timestamp is None else args.timestamp
    run_id = args.run_id or _body_run_id(body) or str(uuid.uuid4())
    try:
        headers = sign_webhook(body, secret, timestamp=timestamp, run_id=run_id)
    except ValueError as exc:
        raise CommandError(str(exc).removeprefix("sign_webhook: ")) from None
    if args.json:
        print_json({"headers": headers})
    else:
        print("\n".join(f"{name}: {value}" for name, value in headers.items()), flush=True)
    return 0


# --- verify ------------------------------------------------------------------------------


def _summary(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload.get(key) for key in ("runId", "sequenceNumber", "status", "agent")}


def _verify(args: argparse.Namespace) -> int:
    from pytest_helios import WebhookVerificationError, verify_webhook

    secrets = webhook_secrets(args.secret)
    if args.file == "-" and args.headers == "-":
        raise CommandError("FILE and --headers cannot both be - (standard input)")
    data = read_input(args.file)
    source = "standard input" if args.file == "-" else args.file
    if args.headers is None:
        body, headers = read_json_delivery(data, source)
    else:
        body = data
        headers = parse_header_lines(read_input(args.headers), args.headers)
    try:
        payload = verify_webhook(body, headers, secrets, tolerance=args.tolerance, now=args.now)
    except WebhookVerificationError as exc:
        error = {"error": type(exc).__name__, "reason": exc.reason, "message": str(exc)}
        if args.json:
            print_json({"verified": False, **error})
        else:
            print(f"rejected: {error['error']} ({error['reason']}): {error['message']}", flush=True)
        return FAILED
    summary = _summary(payload)
    if args.json:
        print_json({"verified": True, **summary})
    else:
        shown = ", ".join(f"{k} {v}" for k, v in summary.items() if v is not None)
        print(f"verified: {shown}", flush=True)
    return 0


def register(commands: Any) -> None:
    sign = commands.add_parser(
        "sign",
        help="print the signature headers Helios sends with a body",
        description="Print the headers Helios sends with the body in FILE, one per line.",
    )
    sign.add_argument("file", metavar="FILE", help="the exact body bytes; - for standard input")
    secret_option(sign)
    sign.add_argument(
        "--timestamp",
        type=non_negative_int,
        metavar="T",
        help="X-Helios-Timestamp in Unix seconds (default: now)",
    )
    sign.add_argument(
        "--run-id",
        type=_run_id,
        metavar="ID",
        help="X-Helios-Run-ID (default: the body's runId, else a new uuid4)",
    )
    json_option(sign)
    sign.set_defaults(run=_sign, prog=sign.prog)

    verify = commands.add_parser(
        "verify",
        help="verify a delivery saved to files",
        description=(
            "Verify a saved delivery: the raw body in FILE with --headers HEADERS_FILE "
            "(`Name: value` lines), or a JSON delivery in FILE. Exits 0 and prints what the "
            "payload is, or 1 naming the reason it is rejected."
        ),
    )
    verify.add_argument(
        "file", metavar="FILE", help="the raw body, or a JSON delivery; - for standard input"
    )
    verify.add_argument(
        "--headers", metavar="HEADERS_FILE", help="the delivery's headers, `Name: value` lines"
    )
    secret_option(verify, several=True)
    verify.add_argument(
        "--now",
        type=non_negative_int,
        metavar="T",
        help="the clock in Unix seconds (default: now; for a delivery saved earlier, the "
        "time it arrived)",
    )
    verify.add_argument(
        "--tolerance",
        type=non_negative_int,
        default=TIMESTAMP_TOLERANCE,
        metavar="SECONDS",
        help=f"how far the timestamp may be from --now, either way (default: "
        f"{TIMESTAMP_TOLERANCE})",
    )
    json_option(verify)
    verify.set_defaults(run=_verify, prog=verify.prog)
