"""Replaying a generated suite from cassettes: pytest-helios against pytest-recording.

Target (issue 6): pytest-helios at most 1.0 times the wall time of pytest-recording.

    python benchmarks/bench_replay.py [--tests 200] [--rounds 5]

The same generated suite (each test POSTs one lab-results request with a module's shared
httpx client, so that client set-up does not hide the plugins' own cost, and checks the
answer) is recorded once per plugin against a local stdlib server, then replayed offline with
each plugin alone (``-p no:recording`` / ``-p no:helios``) in fresh interpreters, alternating
so machine noise hits both equally. The figure is the ratio of the medians; the script exits 1
when it misses the target. pytest-helios does more on each replay (it scrubs every request
before matching and validates every replayed interaction against the schemas), so this
measures what that safety costs.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
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


def pytest_run(root: Path, args: list[str], env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{root.name}: pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    return elapsed


def measure(tests: int = 200, rounds: int = 5) -> dict[str, float]:
    """Median seconds to replay the generated suite with each plugin alone."""
    env = {**os.environ, "HELIOS_API_KEY": "sk_live_" + secrets.token_hex(16)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Helios)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    times: dict[str, list[float]] = {"recording": [], "helios": []}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for plugin in times:
                root = Path(tmp) / plugin
                make_suite(root, plugin, tests, url)
                pytest_run(root, [*ALONE[plugin], *RECORD[plugin]], env)
        finally:
            server.shutdown()
            thread.join()
            server.server_close()
        for _ in range(rounds):
            for plugin in times:
                times[plugin].append(pytest_run(Path(tmp) / plugin, ALONE[plugin], env))
    return {plugin: statistics.median(values) for plugin, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    figures = measure(arguments.tests, arguments.rounds)
    recording, helios = figures["recording"], figures["helios"]
    ratio = helios / recording
    print(f"replaying {arguments.tests} tests, median of {arguments.rounds} rounds:")
    print(f"  pytest-recording  {recording:7.2f} s")
    print(f"  pytest-helios     {helios:7.2f} s")
    print(f"  ratio helios/recording: {ratio:.2f} (target <= 1.0)")
    sys.exit(0 if ratio <= 1.0 else 1)


if __name__ == "__main__":
    main()
