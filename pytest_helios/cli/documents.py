"""``helios openapi`` and ``helios vectors``: the machine-readable files pytest-helios ships.

``openapi`` prints the OpenAPI 3.1 document of the API (`pytest_helios.payloads.openapi_document`).
``vectors`` prints the webhook signature test vectors (``webhook-signatures.json``), which a
verifier in any language can check itself against, or with ``--path`` where the file is: inside
the installed package (``pytest_helios/vectors/``), or in a source checkout ``tests/vectors/``.
Both print JSON already, so neither needs ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from ._common import FAILED, CommandError

__all__ = ["VECTORS_FILE", "register", "vectors_path"]

#: The file name of the signature test vectors.
VECTORS_FILE = "webhook-signatures.json"


def vectors_path() -> Path:
    """Where the signature test vectors are: in the installed wheel, or in the checkout."""
    packaged = resources.files("pytest_helios") / "vectors" / VECTORS_FILE
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "tests" / "vectors" / VECTORS_FILE


def _openapi(args: argparse.Namespace) -> int:
    from pytest_helios.payloads.openapi import main

    return main()


def _vectors(args: argparse.Namespace) -> int:
    path = vectors_path()
    if args.path:
        print(path, flush=True)
        return 0
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(
            f"cannot read the test vectors at {path}: {exc.strerror}", FAILED
        ) from None
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def register(commands: Any) -> None:
    openapi = commands.add_parser(
        "openapi",
        help="print the OpenAPI 3.1 document of the Helios API",
        description="Print the OpenAPI 3.1 document of the Helios API, generated from the "
        "shipped JSON Schemas: both endpoints, every response and the webhooks.",
    )
    openapi.set_defaults(run=_openapi, prog=openapi.prog)
    vectors = commands.add_parser(
        "vectors",
        help="print the webhook signature test vectors (JSON)",
        description="Print the webhook signature test vectors: signing and verification "
        "cases, with the expected headers and verdicts, for a verifier in any language.",
    )
    vectors.add_argument("--path", action="store_true", help="print the file's path instead")
    vectors.set_defaults(run=_vectors, prog=vectors.prog)
