"""``helios``: the command line of pytest-helios, one subcommand per task.

``main(argv)`` parses the command line, runs the subcommand and returns the exit status: 0 when
it did what was asked, 1 when a check failed or a server could not be reached, 2 for a wrong
command line or input file (as argparse does). Errors go to standard error as ``helios
<command>: error: <what is wrong and how to fix it>``; ``--json`` changes standard output only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pytest_helios import __version__

from . import admin, conformance, documents, emulator, signatures, trigger
from ._common import FAILED, CommandError

__all__ = ["main", "parser"]

#: The command groups, in the order ``helios --help`` lists them.
GROUPS = (emulator, admin, trigger, signatures, conformance, documents)


def parser() -> argparse.ArgumentParser:
    """The ``helios`` parser with every subcommand."""
    top = argparse.ArgumentParser(
        prog="helios",
        description=(
            "Tools for the Helios API in any language: run the emulator, manage its accounts, "
            "keys and webhook secret, send signed webhooks, sign and verify deliveries, test "
            "a webhook endpoint, and get the OpenAPI document and the signature test vectors."
        ),
        epilog="Each command's --help tells more; docs/cli.md has an example of each.",
    )
    top.add_argument("--version", action="version", version=f"helios {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == [emulator.COMMAND]:
        # every option after the word belongs to helios-emulator, --help included
        return emulator.run_emulator(arguments[1:])
    args = parser().parse_args(arguments)
    try:
        status: int = args.run(args)
    except CommandError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr, flush=True)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`helios vectors | head`): nothing more to say, to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    return status


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    raise SystemExit(main())
