"""What every ``helios`` command shares: its error, the shared options, input and output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "EMULATOR_VARIABLE",
    "FAILED",
    "SECRET_VARIABLE",
    "USAGE",
    "CommandError",
    "describe_transport_error",
    "http_url",
    "json_option",
    "non_negative_int",
    "positive_int",
    "print_json",
    "read_input",
    "secret_option",
    "table",
    "webhook_secrets",
]

#: Exit status: a check failed (a rejected delivery, a failed case) or a server was unreachable.
FAILED = 1
#: Exit status: the command line or an input file is wrong (argparse's own status).
USAGE = 2

#: Where ``--secret`` comes from when it is not given.
SECRET_VARIABLE = "HELIOS_WEBHOOK_SECRET"
#: Where ``--emulator`` comes from when it is not given.
EMULATOR_VARIABLE = "HELIOS_EMULATOR_URL"


class CommandError(Exception):
    """A command cannot go on: ``message`` for the user, ``status`` for the shell."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.status = status


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document instead of text (its shape: docs/cli.md)",
    )


def secret_option(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    more = " Repeat it to accept any of several (during a rotation)." if several else ""
    parser.add_argument(
        "--secret",
        action="append" if several else "store",
        metavar="SECRET",
        help=f"the webhook secret (default: the {SECRET_VARIABLE} environment variable).{more}",
    )


def webhook_secrets(given: str | Sequence[str] | None) -> list[str]:
    """The secrets given with ``--secret``, else the one in ``HELIOS_WEBHOOK_SECRET``."""
    chosen = [given] if isinstance(given, str) else list(given or ())
    if not chosen:
        from_environment = os.environ.get(SECRET_VARIABLE, "")
        chosen = [from_environment] if from_environment else []
    if not chosen:
        raise CommandError(f"no webhook secret: pass --secret SECRET or set {SECRET_VARIABLE}")
    if not all(chosen):
        raise CommandError("--secret is empty")
    return chosen


def read_input(path: str) -> bytes:
    """The bytes of the file at ``path``, or of standard input for ``-``."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def http_url(value: str) -> str:
    """An ``argparse`` type: an absolute ``http://`` or ``https://`` URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http:// or https:// URL")
    return value


def positive_int(value: str) -> int:
    """An ``argparse`` type: a whole number of 1 or more."""
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return int(value)


def non_negative_int(value: str) -> int:
    """An ``argparse`` type: a whole number of 0 or more (Unix seconds, a tolerance)."""
    if not (value.isascii() and value.isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 0 or more")
    return int(value)


def print_json(value: Any) -> None:
    """``value`` as one line of JSON on standard output."""
    print(json.dumps(value, ensure_ascii=False), flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under their headers, in columns two spaces apart."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def describe_transport_error(exc: BaseException) -> str:
    """Why a request got no answer, in a few words (``connection refused``, ``timed out``)."""
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower() or type(exc).__name__.endswith("Timeout"):
        return "timed out"
    return text or type(exc).__name__
