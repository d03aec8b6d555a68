"""``helios openapi`` and ``helios vectors`` print the machine-readable files of the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pytest_helios.cli.documents import vectors_path
from pytest_helios.payloads import openapi_document

from .conftest import helios

CHECKOUT_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "webhook-signatures.json"


def test_helios_openapi_prints_the_openapi_document() -> None:
    ran = helios("openapi")
    assert (ran.status, ran.err) == (0, "")
    assert ran.out == json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def test_python_m_prints_the_same_document() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_helios.payloads.openapi"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == openapi_document()


def test_helios_vectors_prints_the_published_vectors_and_where_they_are() -> None:
    ran = helios("vectors")
    assert ran.status == 0
    assert ran.out == CHECKOUT_VECTORS.read_text(encoding="utf-8")
    where = helios("vectors", "--path")
    assert where.out == f"{vectors_path()}\n"
    assert vectors_path() == CHECKOUT_VECTORS  # an editable install reads the checkout's file
