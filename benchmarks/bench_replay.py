"""Replaying a generated suite from cassettes: pytest-helios against pytest-recording.

Target (issue 6): pytest-helios at most 1.0 times the wall time of pytest-recording.

    python benchmarks/bench_replay.py [--tests 200] [--rounds 5]

The same generated suite (each test POSTs one lab-results request with a module's shared
httpx client, so that client set-up does not hide the plugins' own cost, and checks the
answer) is recorded once per plugin against a local stdlib server, then replayed offline with
each plugin alone (``-p no:recording`` / ``-p no:helios``) in fresh interpreters, alternating
which goes first, so machine noise hits both equally. The figures are the ratios of the
medians of wall time (the target) and of CPU time; the script exits 1 when the wall-time
ratio misses the target. pytest-helios does more on each replay (it scrubs every request
before matching and validates every replayed interaction against the schemas) and less of
vcrpy's repeated work (no import-path search per test for HTTP libraries that are not
installed), so this measures both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TEST = """
@pytest.mark.{marker}
def test_case_{i}():
    payload = {{**LAB_REQUEST, "patientContext": {{"age": "{age}", "gender": "female"}}}}
    response = CLIENT.post(URL + "/api/v1/lab-results", json=payload)
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
"""

PRELUDE = """
import os
import httpx
import pytest

URL = {url!r}
CLIENT = httpx.Client(headers={{"x-api-key": os.environ.get("HELIOS_API_KEY", "")}})
LAB_REQUEST = {{
    "webhookUrl": "https://example.org/webhook/helios",
    "labResults": [{{"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High",
                     "referenceRange": "0.7-1.3 mg/dL", "date": "2025-01-15"}}],
}}
"""

CONFTESTS = {
    "recording": """
import pytest

@pytest.fixture(scope="module")
def vcr_config():
    return {"filter_headers": ["x-api-key"]}
""",
    "helios": """
import dataclasses
import pytest

@pytest.fixture
def helios_cassette_config(helios_cassette_config):
    return dataclasses.replace(helios_cassette_config, target_urls=({url!r},))
""",
}
MARKERS = {"recording": "vcr", "helios": "helios_cassette"}
ALONE = {"recording": ["-p", "no:helios"], "helios": ["-p", "no:recording"]}
RECORD = {"recording": ["--record-mode=once"], "helios": ["--helios-record-mode=once"]}


class _Helios(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {
                "runId": str(uuid.uuid4()),
                "status": "accepted",
                "message": "Request accepted. Results will be delivered to your webhook.",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (("X-Concurrent-Limit", "7"), ("X-Concurrent-Active", "1")):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


PLUGINS = ("recording", "helios")


def make_suite(root: Path, plugin: str, tests: int, url: str) -> None:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(CONFTESTS[plugin].replace("{url!r}", repr(url)))
    per_file = 50
    for start in range(0, tests, per_file):
        body = PRELUDE.format(url=url)
        for i in range(start, min(start + per_file, tests)):
            body += TEST.format(marker=MARKERS[plugin], i=i, age=20 + i % 60)
        (root / f"test_generated_{start // per_file:03d}.py").write_text(body)


def pytest_run(root: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run in a fresh interpreter."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(
            f"{root.name}: pytest {' '.join(args)} exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def pytest_instructions(root: Path, args: list[str], env: dict[str, str]) -> int:
    """Instructions executed by one run in a fresh interpreter, counted by callgrind."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += ["-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{root.name}: callgrind run failed:\n{done.stdout[-3000:]}")
    return int(found.group(1))


@contextlib.contextmanager
def recorded_suites(tests: int) -> Iterator[tuple[Path, dict[str, str]]]:
    """The generated suite, recorded once by each plugin against a local server (then gone)."""
    env = {**os.environ, "HELIOS_API_KEY": "sk_live_" + secrets.token_hex(16)}
    # As on a developer's machine: compiled (and assertion-rewritten) modules are cached, so
    # the figure compares the plugins' work rather than how many modules each one imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Helios)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for plugin in PLUGINS:
                root = Path(tmp) / plugin
                make_suite(root, plugin, tests, url)
                pytest_run(root, [*ALONE[plugin], *RECORD[plugin]], env)
        finally:
            server.shutdown()
            thread.join()
            server.server_close()
        yield Path(tmp), env


def measure(tests: int = 200, rounds: int = 5) -> dict[str, float]:
    """Median wall and CPU seconds to replay the suite with each plugin alone, interleaved."""
    times: dict[str, list[tuple[float, float]]] = {plugin: [] for plugin in PLUGINS}
    with recorded_suites(tests) as (tmp, env):
        for round_ in range(rounds):
            # A B, B A, ...: neither plugin always runs first (a warm cache, a drifting load).
            for plugin in PLUGINS if round_ % 2 == 0 else PLUGINS[::-1]:
                times[plugin].append(pytest_run(tmp / plugin, ALONE[plugin], env))
    figures: dict[str, float] = {}
    for plugin, values in times.items():
        figures[plugin] = statistics.median(t[0] for t in values)
        figures[f"{plugin}_cpu"] = statistics.median(t[1] for t in values)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions of one replay each under valgrind: slow, exact on a busy machine",
    )
    arguments = parser.parse_args()
    if arguments.callgrind:
        with recorded_suites(arguments.tests) as (tmp, env):
            counts = {p: pytest_instructions(tmp / p, ALONE[p], env) for p in PLUGINS}
        ratio = counts["helios"] / counts["recording"]
        print(f"replaying {arguments.tests} tests, instructions counted by callgrind:")
        print(f"  pytest-recording {counts['recording']:>16,}")
        print(f"  pytest-helios    {counts['helios']:>16,}")
        print(f"  ratio {ratio:.3f}  (target <= 1.0)")
        sys.exit(0 if ratio <= 1.0 else 1)
    figures = measure(arguments.tests, arguments.rounds)
    print(f"replaying {arguments.tests} tests, median of {arguments.rounds} rounds:")
    for what, suffix in (("wall", ""), ("CPU", "_cpu")):
        recording, helios = figures["recording" + suffix], figures["helios" + suffix]
        print(
            f"  {what:4} time: pytest-recording {recording:6.2f} s, pytest-helios {helios:6.2f} s,"
            f" ratio {helios / recording:.2f}"
        )
    wall = figures["helios"] / figures["recording"]
    print(f"  target: pytest-helios / pytest-recording <= 1.0 (wall {wall:.2f})")
    sys.exit(0 if wall <= 1.0 else 1)


if __name__ == "__main__":
    main()
