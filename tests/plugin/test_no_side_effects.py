"""A suite that never uses a helios fixture pays nothing for the plugin being installed.

Each run here is a fresh interpreter, because the test process itself has long imported
everything. The same suite runs with the plugin and with ``-p no:helios``; what differs is
what the plugin did by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROBE = """
import json, os, sys, threading

def pytest_unconfigure(config):
    with open(os.environ["PROBE_OUT"], "w") as out:
        json.dump({
            "modules": sorted(sys.modules),
            "threads": sorted(t.name for t in threading.enumerate()),
            "fds": len(os.listdir("/proc/self/fd")),
        }, out)
"""

# What loading the plugin may import: the core plugin (the entry point), the two feature plugins
# it registers, and the small pieces they need to register options, markers, stash keys and the
# hookspecs.
ALLOWED = {
    "pytest_helios",
    "pytest_helios._marker",
    "pytest_helios._options",
    "pytest_helios._stash",
    "pytest_helios.facts",
    "pytest_helios.hookspecs",
    "pytest_helios.plugin",
    "pytest_helios.cassettes",
    "pytest_helios.cassettes.config",
    "pytest_helios.cassettes.plugin",
    "pytest_helios.contract",
    "pytest_helios.contract._session",
    "pytest_helios.contract.plugin",
}


def probe(project: Path, out: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PROBE_OUT": str(out)}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


@dataclass(frozen=True)
class Probes:
    with_plugin: dict[str, Any]
    without: dict[str, Any]
    files_before: set[str]
    files_after: set[str]


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Probes:
    """One run with the plugin and one with ``-p no:helios``, of a suite that never uses it."""
    tmp = tmp_path_factory.mktemp("no-side-effects")
    root = tmp / "project"
    root.mkdir()
    (root / "conftest.py").write_text(PROBE)
    (root / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    (root / "pytest.ini").write_text("[pytest]\n")
    before = files_under(root)
    with_plugin = probe(root, tmp / "on.json")
    after = files_under(root)
    without = probe(root, tmp / "off.json", "-p", "no:helios")
    return Probes(with_plugin, without, before, after)


def test_an_unused_plugin_imports_only_its_own_small_modules(probes: Probes) -> None:
    added = set(probes.with_plugin["modules"]) - set(probes.without["modules"])
    assert added <= ALLOWED, sorted(added - ALLOWED)
    heavy = {"starlette", "uvicorn", "vcr", "jsonschema_rs", "jsonschema", "yaml", "httpx"}
    assert not heavy & added


def test_an_unused_plugin_starts_no_thread_and_opens_no_file_or_socket(probes: Probes) -> None:
    """Compared with the same run under ``-p no:helios``: other plugins may start threads."""
    assert probes.with_plugin["threads"] == probes.without["threads"]
    assert probes.with_plugin["fds"] == probes.without["fds"]


def test_an_unused_plugin_writes_nothing(probes: Probes) -> None:
    assert probes.files_after == probes.files_before
