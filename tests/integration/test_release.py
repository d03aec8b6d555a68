"""`tox -e release` (docs/releasing.md) builds, checks and lists what a release would upload.

The commands are read from tox.ini's ``[testenv:release]`` and run here, without tox, in a copy
of the repository's tracked files, so the documented command and this test cannot drift.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a whole install or project run: see .ci/run

ROOT = Path(__file__).resolve().parents[2]


def release_commands() -> list[list[str]]:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    lines = ini["testenv:release"]["commands"].strip().splitlines()
    return [shlex.split(line) for line in lines]


def test_the_release_dry_run_builds_checks_and_lists_the_sdist_and_the_wheel(
    tmp_path: Path,
) -> None:
    pytest.importorskip("twine", reason="twine is in the test extra: pip install -e '.[test]'")
    pytest.importorskip("build", reason="build is in the test extra: pip install -e '.[test]'")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (git ls-files lists what to copy)")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    printed = []
    for command in release_commands():
        assert command[0] == "python", command
        done = subprocess.run(
            [sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        printed.append(done.stdout)
    version = __import__("pytest_helios").__version__
    files = sorted(p.name for p in (tmp_path / "dist").iterdir())
    assert files == [f"pytest_helios-{version}-py3-none-any.whl", f"pytest_helios-{version}.tar.gz"]
    assert printed[2].count("PASSED") == 2, printed[2]
    for name in files:
        assert f"would upload {name} " in printed[3]
