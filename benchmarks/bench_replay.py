"""Replaying generated suites from cassettes: pytest-helios against pytest-recording.

Targets (issue 15): at 200 and 2,000 cassettes of 1 and of 50 interactions, a replayed test
costs pytest-helios at most 0.8 times what it costs pytest-recording (CPU time, start-up left
out); the peak RSS of a 2,000-test replay is within 1.1 times pytest-recording's.

    python benchmarks/bench_replay.py                  # 200 and 2,000 tests x 1 and 50, 3 rounds
    python benchmarks/bench_replay.py --quick          # a smoke run: 50 and 200 tests x 1 and 10
    python benchmarks/bench_replay.py --tests 200 --interactions 1,10,50 --rounds 5
    python benchmarks/bench_replay.py --callgrind --tests 200 --interactions 50

Each test POSTs its interactions (lab-results requests whose bodies differ, so replay must
find the right one among all of the cassette's) with a module's shared httpx client, so that
client set-up does not hide the plugins' own cost, and checks each answer. The largest suite
of each interaction count is recorded once per plugin against a local stdlib server; a
smaller shape replays its first files. Each shape is then replayed offline with each plugin
alone (``-p no:recording`` / ``-p no:helios``) in fresh interpreters, and so is each suite's
first test alone (pytest's start-up, the imports and one test: paid once a run, the same for
every shape). Every round replays everything, alternating which plugin goes first, so a burst
of load on this shared machine hits both alike. A run's wall and CPU time (user + system) and
its peak RSS are the operating system's accounting of that one child process (``os.wait4``).

Per test, a shape's run less the one-test run, over its other tests: what one more replayed
test costs (the target, on CPU time: on a shared machine wall time also counts the waits for a
core). Whole run: the run over its tests, start-up included. The slopes between sizes show
that the cost stays flat: per added test from the smaller to the larger suite, per added
interaction from the fewest to the most. A ratio is the median of its rounds' ratios (pairs run
back to back), with their range. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: pytest-helios / pytest-recording, wall time, at every shape.
TIME_TARGET = 0.8
#: pytest-helios / pytest-recording, peak RSS, at this many tests and more.
RSS_TARGET = 1.1
RSS_TESTS = 2000
#: one-test runs of each suite and plugin per round (their median is the start-up)
FIRST_RUNS = 3
PER_FILE = 50

TEST = """
@pytest.mark.{marker}
def test_case_{i}():
    for k in range({interactions}):
        payload = {{
            **LAB_REQUEST,
            "patientContext": {{"age": "{age}", "gender": "female"}},
            "labResults": [{{**CREATININE, "value": f"{{1 + k / 10:.1f}} mg/dL"}}],
        }}
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
CREATININE = {{"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High",
               "referenceRange": "0.7-1.3 mg/dL", "date": "2025-01-15"}}
LAB_REQUEST = {{"webhookUrl": "https://example.org/webhook/helios", "labResults": [CREATININE]}}
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
NAMES = {"recording": "pytest-recording", "helios": "pytest-helios"}
PLUGINS = ("recording", "helios")


class _Helios(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: recording 100,000 requests opens few sockets
    disable_nagle_algorithm = True  # TCP_NODELAY: headers and body go out without waiting

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def make_suite(root: Path, plugin: str, tests: int, interactions: int, url: str) -> None:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(CONFTESTS[plugin].replace("{url!r}", repr(url)))
    for start in range(0, tests, PER_FILE):
        body = PRELUDE.format(url=url)
        for i in range(start, min(start + PER_FILE, tests)):
            body += TEST.format(
                marker=MARKERS[plugin], i=i, age=20 + i % 60, interactions=interactions
            )
        (root / test_file(start // PER_FILE)).write_text(body)


def test_file(number: int) -> str:
    return f"test_generated_{number:03d}.py"


def files_for(tests: int) -> list[str]:
    """The test files that hold the first ``tests`` tests (every file holds PER_FILE)."""
    if tests % PER_FILE:
        raise SystemExit(f"--tests: {tests} is not a multiple of {PER_FILE}")
    return [test_file(n) for n in range(tests // PER_FILE)]


@dataclass
class Run:
    """One pytest process: wall and CPU seconds, and its peak RSS in bytes."""

    wall: float
    cpu: float
    rss: int


def pytest_run(root: Path, args: Sequence[str], env: dict[str, str]) -> Run:
    """Run pytest in a fresh interpreter; the OS's accounting of that one process."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=root, stdout=output, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            shown = output.read().decode("utf-8", "replace")
            raise SystemExit(
                f"{root.name}: pytest {' '.join(args)} exited {process.returncode}:\n"
                f"{shown[-3000:]}"
            )
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def pytest_instructions(root: Path, args: Sequence[str], env: dict[str, str]) -> int:
    """Instructions executed by one run in a fresh interpreter, counted by callgrind."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += ["-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{root.name}: callgrind run failed:\n{done.stdout[-3000:]}")
    return int(found.group(1))


@dataclass(frozen=True)
class Shape:
    tests: int
    interactions: int

    def __str__(self) -> str:
        plural = "s" if self.interactions != 1 else ""
        return f"{self.tests:,} tests x {self.interactions} interaction{plural}"


@contextlib.contextmanager
def recorded_suites(
    tests: Sequence[int], interactions: Sequence[int]
) -> Iterator[tuple[dict[Shape, dict[str, list[str]]], Path, dict[str, str]]]:
    """The suites recorded once by each plugin against a local server (then gone): for each
    shape and plugin, the arguments that replay it (from the suite's folder)."""
    env = {**os.environ, "HELIOS_API_KEY": "sk_live_" + secrets.token_hex(16)}
    # As on a developer's machine: compiled (and assertion-rewritten) modules are cached, so
    # the figure compares the plugins' work rather than how many modules each one imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    server = _Server(("127.0.0.1", 0), _Helios)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    largest = max(tests)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for n in interactions:
                for plugin in PLUGINS:
                    root = Path(tmp) / f"{plugin}-{n}"
                    make_suite(root, plugin, largest, n, url)
                    pytest_run(root, [*ALONE[plugin], *RECORD[plugin]], env)
        finally:
            server.shutdown()
            thread.join()
            server.server_close()
        shapes = {
            Shape(t, n): {p: [*ALONE[p], *files_for(t)] for p in PLUGINS}
            for n in interactions
            for t in tests
        }
        yield shapes, Path(tmp), env


@dataclass
class Figures:
    """Every round's runs of one shape, each plugin's, and the one-test runs of its suite in
    the same rounds (pytest's start-up, the imports and the first test, paid once a run)."""

    shape: Shape
    runs: dict[str, list[Run]] = field(default_factory=lambda: {p: [] for p in PLUGINS})
    first: dict[str, list[Run]] = field(default_factory=lambda: {p: [] for p in PLUGINS})

    def whole(self, plugin: str, what: str) -> list[float]:
        """Each round's run time over its tests, start-up included."""
        return [getattr(r, what) / self.shape.tests for r in self.runs[plugin]]

    def per_test(self, plugin: str, what: str) -> list[float]:
        """Each round's cost of one more test: the run less the one-test run (the median of
        all of them, steadier than any one), per test."""
        first = statistics.median(getattr(f, what) for f in self.first[plugin])
        return [(getattr(r, what) - first) / (self.shape.tests - 1) for r in self.runs[plugin]]

    def median(self, plugin: str, what: str) -> float:
        return float(statistics.median(getattr(r, what) for r in self.runs[plugin]))

    def ratios(self, what: str, *, startup: bool = True) -> list[float]:
        """helios / recording, round by round."""
        if startup:
            ours, theirs = self.whole("helios", what), self.whole("recording", what)
        else:
            ours, theirs = self.per_test("helios", what), self.per_test("recording", what)
        return [h / r for h, r in zip(ours, theirs, strict=True)]


def measure_shapes(
    tests: Sequence[int], interactions: Sequence[int], rounds: int
) -> dict[Shape, Figures]:
    """Every shape replayed by each plugin alone, ``rounds`` times, interleaved, and each
    suite's first test alone in every round."""
    with recorded_suites(tests, interactions) as (shapes, tmp, env):
        figures = {shape: Figures(shape) for shape in shapes}
        first: dict[int, dict[str, list[Run]]] = {n: {p: [] for p in PLUGINS} for n in interactions}
        for each in shapes:
            figures[each].first = first[each.interactions]
        jobs: list[tuple[Shape | None, int, dict[str, list[str]]]] = [
            (None, n, {p: [*ALONE[p], f"{test_file(0)}::test_case_0"] for p in PLUGINS})
            for n in interactions
            for _ in range(FIRST_RUNS)
        ]
        jobs += [(shape, shape.interactions, args) for shape, args in shapes.items()]
        for round_ in range(rounds):
            for number, (job, n, args) in enumerate(jobs):
                # A B, B A, ...: neither plugin always runs first (a warm cache, a drifting load).
                order = PLUGINS if (round_ + number) % 2 == 0 else PLUGINS[::-1]
                for plugin in order:
                    run = pytest_run(tmp / f"{plugin}-{n}", args[plugin], env)
                    kept = first[n] if job is None else figures[job].runs
                    kept[plugin].append(run)
    return figures


def measure(tests: int = 200, rounds: int = 5, interactions: int = 1) -> dict[str, float]:
    """Median wall and CPU seconds and peak RSS of one shape's replay, each plugin alone;
    the median ratios of its rounds (``ratio``, ``ratio_cpu``, ``ratio_rss``)."""
    figures = measure_shapes([tests], [interactions], rounds)[Shape(tests, interactions)]
    result: dict[str, float] = {}
    for plugin in PLUGINS:
        result[plugin] = figures.median(plugin, "wall")
        result[f"{plugin}_cpu"] = figures.median(plugin, "cpu")
        result[f"{plugin}_rss"] = figures.median(plugin, "rss")
    for what, suffix in (("wall", ""), ("cpu", "_cpu"), ("rss", "_rss")):
        result["ratio" + suffix] = statistics.median(figures.ratios(what))
    return result


def _ms(values: Sequence[float]) -> str:
    median = statistics.median(values) * 1e3
    return f"{median:6.2f} ms ({min(values) * 1e3:.2f}-{max(values) * 1e3:.2f})"


def _ratio(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def report(figures: dict[Shape, Figures], rounds: int) -> tuple[list[str], bool]:
    """The lines to print and whether every target was met."""
    lines = [
        f"median (range) of {rounds} round(s), pytest-recording | pytest-helios | ratio;",
        "per test: the run less its suite's one-test run (median), over the other tests (start-up",
        "left out; the target, on CPU time); whole run: the run over its tests (start-up in)",
    ]
    met = True
    done: set[int] = set()
    for shape, f in figures.items():
        if shape.interactions not in done:
            done.add(shape.interactions)
            lines.append(f"one test alone (start-up and first test), {shape.interactions} x:")
            for what, label in (("cpu", "CPU"), ("wall", "wall")):
                rec, mine = ([getattr(r, what) for r in f.first[p]] for p in PLUGINS)
                lines.append(f"  {label:4} {_ms(rec)} | {_ms(mine)}")
        lines.append(f"{shape}:")
        for startup, label in ((False, "per test"), (True, "whole run")):
            for what, unit in (("cpu", "CPU"), ("wall", "wall")):
                of = f.whole if startup else f.per_test
                ratios = f.ratios(what, startup=startup)
                verdict = ""
                if not startup and what == "cpu":
                    ok = statistics.median(ratios) <= TIME_TARGET
                    met = met and ok
                    verdict = f"  target <= {TIME_TARGET}: {'met' if ok else 'MISSED'}"
                lines.append(
                    f"  {label + ', ' + unit:15} {_ms(of('recording', what))} | "
                    f"{_ms(of('helios', what))} | {_ratio(ratios)}{verdict}"
                )
        rss = {p: f.median(p, "rss") / 2**20 for p in PLUGINS}
        ratio = statistics.median(f.ratios("rss"))
        verdict = ""
        if shape.tests >= RSS_TESTS:
            ok = ratio <= RSS_TARGET
            met = met and ok
            verdict = f"  target <= {RSS_TARGET}: {'met' if ok else 'MISSED'}"
        lines.append(
            f"  {'peak RSS':15} {rss['recording']:6.1f} MiB | {rss['helios']:6.1f} MiB | "
            f"{_ratio(f.ratios('rss'))}{verdict}"
        )
    lines += slopes(figures)
    return lines, met


def _slope(figures: Figures, smaller: Figures, plugin: str, units: int) -> float:
    """Median of each round's CPU-time difference between two shapes, over ``units``."""
    pairs = zip(figures.runs[plugin], smaller.runs[plugin], strict=True)
    return float(statistics.median((big.cpu - small.cpu) / units for big, small in pairs))


def slopes(figures: dict[Shape, Figures]) -> list[str]:
    """CPU per added test and per added interaction (flat: the cost does not grow)."""
    tests = sorted({s.tests for s in figures})
    interactions = sorted({s.interactions for s in figures})
    lines = []
    if len(tests) > 1:
        lines.append("CPU per added test, pytest-recording | pytest-helios (per interaction):")
        for n in interactions:
            for small, big in itertools.pairwise(tests):
                a, b = figures[Shape(small, n)], figures[Shape(big, n)]
                rec, mine = (_slope(b, a, p, big - small) for p in PLUGINS)
                lines.append(
                    f"  {small:,} -> {big:,} tests x {n}: {rec * 1e3:6.2f} ms ({rec / n * 1e3:.3f})"
                    f" | {mine * 1e3:6.2f} ms ({mine / n * 1e3:.3f}) | {mine / rec:.2f}"
                )
    if len(interactions) > 1:
        lines.append("CPU per added interaction in a cassette, pytest-recording | pytest-helios:")
        for t in tests:
            for few, many in itertools.pairwise(interactions):
                a, b = figures[Shape(t, few)], figures[Shape(t, many)]
                rec, mine = (_slope(b, a, p, t * (many - few)) for p in PLUGINS)
                lines.append(
                    f"  {t:,} tests, {few} -> {many} interactions: {rec * 1e3:6.3f} ms | "
                    f"{mine * 1e3:6.3f} ms | {mine / rec:.2f}"
                )
    return lines


def _numbers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every number must be positive")
    return sorted(set(values))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=_numbers, default=None, help="e.g. 200,2000")
    parser.add_argument("--interactions", type=_numbers, default=None, help="e.g. 1,50")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 50 and 200 tests x 1 and 10, 1 round"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions of one replay each under valgrind: slow, exact on a busy machine",
    )
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    tests = arguments.tests or ([50, 200] if quick else [200, 2000])
    interactions = arguments.interactions or ([1, 10] if quick else [1, 50])
    rounds = arguments.rounds or (1 if quick else 3)
    load = os.getloadavg()[0]
    if arguments.callgrind:
        tests, interactions = tests[:1], interactions[-1:]
        with recorded_suites(tests, interactions) as (shapes, tmp, env):
            [(shape, args)] = shapes.items()
            one = f"{test_file(0)}::test_case_0"
            counts = {
                (p, what): pytest_instructions(
                    tmp / f"{p}-{shape.interactions}",
                    args[p] if what == "run" else [*ALONE[p], one],
                    env,
                )
                for p in PLUGINS
                for what in ("run", "one test")
            }
        print(f"replaying {shape}, instructions counted by callgrind:")
        print("  pytest-recording | pytest-helios | ratio")
        for what in ("run", "one test"):
            rec, mine = counts["recording", what], counts["helios", what]
            print(f"  {what:9} {rec:>16,} | {mine:>16,} | {mine / rec:.3f}")
        rec, mine = (
            (counts[p, "run"] - counts[p, "one test"]) // (shape.tests - 1) for p in PLUGINS
        )
        print(f"  per test  {rec:>16,} | {mine:>16,} | {mine / rec:.3f} (target <= {TIME_TARGET})")
        return 0 if mine / rec <= TIME_TARGET else 1
    started = time.perf_counter()
    figures = measure_shapes(tests, interactions, rounds)
    lines, met = report(figures, rounds)
    print(
        f"replay, {os.cpu_count()} cores, load average {load:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after, {time.perf_counter() - started:.0f} s"
    )
    print("\n".join(lines))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
