"""The public API keeps its types: ``mypy --strict`` passes on a user's module and fails on misuse.

``api_use.py`` uses the public names the way a downstream suite does; ``misuse.py`` marks each
line mypy must reject with ``# E: <error codes>``. Both are copied to a fresh directory and
checked there, as a user's project is: ``pytest_helios`` comes from the installed package, and
no configuration of this repository applies.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
MODULES = ("api_use.py", "misuse.py")
MESSAGE = re.compile(r"^(?P<file>[\w.]+):(?P<line>\d+): error: .*\[(?P<code>[\w-]+)\]$")
MARK = re.compile(r"#\s*E:\s*(?P<codes>[\w, -]+)$")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is in the test and types extras)",
)


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[int, str]]]:
    """Every error ``mypy --strict`` reports, as ``(line, code)`` pairs per module."""
    project = tmp_path_factory.mktemp("typing")
    for name in MODULES:
        shutil.copy(HERE / name, project / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYPY")}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file="),
            *("--cache-dir", os.devnull, "--no-error-summary", "--show-error-codes", *MODULES),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 2 would be a crash or usage
    found: dict[str, set[tuple[int, str]]] = {name: set() for name in MODULES}
    for line in done.stdout.splitlines():
        match = MESSAGE.match(line)
        if match:
            found[match["file"]].add((int(match["line"]), match["code"]))
    return found


def expected_errors(name: str) -> set[tuple[int, str]]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return {
        (number, code.strip())
        for number, text in enumerate(lines, start=1)
        if (mark := MARK.search(text))
        for code in mark["codes"].split(",")
    }


def test_a_user_module_using_the_public_api_passes_mypy_strict(
    mypy_errors: dict[str, set[tuple[int, str]]],
) -> None:
    assert mypy_errors["api_use.py"] == set()


def test_mypy_strict_rejects_every_misuse_and_nothing_else(
    mypy_errors: dict[str, set[tuple[int, str]]],
) -> None:
    expected = expected_errors("misuse.py")
    lines = (HERE / "misuse.py").read_text(encoding="utf-8").splitlines()
    bogus = next(
        n for n, text in enumerate(lines, 1) if "HeliosClient(1, 2, 3, bogus=True)" in text
    )
    assert (bogus, "call-arg") in expected
    assert mypy_errors["misuse.py"] == expected
