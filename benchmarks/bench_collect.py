"""Collection overhead of the plugin: ``pytest --collect-only`` of a generated 500-test suite,
with pytest-helios loaded and with ``-p no:helios``, side by side in one run.

Target (issue 5): at most 1.05 times the time without the plugin.

    python benchmarks/bench_collect.py [--tests 500] [--rounds 15]

Runs alternate between the two configurations so that machine noise hits both equally; the
figure is the ratio of the medians.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_suite(root: Path, tests: int) -> None:
    per_file = 50
    for start in range(0, tests, per_file):
        lines = ["import pytest", ""]
        for i in range(start, min(start + per_file, tests)):
            lines += [f"def test_case_{i}():", f"    assert {i} == {i}", ""]
        (root / f"test_generated_{start // per_file:03d}.py").write_text("\n".join(lines))
    (root / "pytest.ini").write_text("[pytest]\n")


def run(root: Path, extra: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one collection in a fresh interpreter."""
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"collection failed ({' '.join(extra) or 'plugin on'}):\n{done.stdout}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def measure(tests: int = 500, rounds: int = 15) -> dict[str, float]:
    """Median wall-clock and CPU seconds of one collection, with the plugin and without."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_suite(root, tests)
        run(root, [])  # warm the file system and bytecode caches
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        for _ in range(rounds):
            on.append(run(root, []))
            off.append(run(root, ["-p", "no:helios"]))
    return {
        "wall_on": statistics.median(r[0] for r in on),
        "wall_off": statistics.median(r[0] for r in off),
        "cpu_on": statistics.median(r[1] for r in on),
        "cpu_off": statistics.median(r[1] for r in off),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    figures = measure(args.tests, args.rounds)
    print(f"collect-only, {args.tests} tests, {args.rounds} rounds each (median)")
    print(f"  {'':22}{'with pytest-helios':>20}{'-p no:helios':>16}{'ratio':>9}")
    for kind, label in (("wall", "wall clock (ms)"), ("cpu", "CPU, user+sys (ms)")):
        a, b = figures[f"{kind}_on"], figures[f"{kind}_off"]
        print(f"  {label:22}{a * 1000:20.1f}{b * 1000:16.1f}{a / b:9.3f}")
    print("  target: ratio <= 1.05")


if __name__ == "__main__":
    main()
