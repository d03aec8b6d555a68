"""Collection overhead of the plugin: ``pytest --collect-only`` of a generated 500-test suite,
with pytest-helios loaded and with ``-p no:helios``, side by side in one run.

Target (issue 5): at most 1.05 times the time without the plugin.

    python benchmarks/bench_collect.py [--tests 500] [--rounds 15]

Runs alternate between the two configurations so that machine noise hits both equally; the
figure is the ratio of the medians. On a busy machine, ``--callgrind`` instead counts the
instructions of one collection each under ``valgrind --tool=callgrind``: slow (minutes), but
the same count every time whatever else the machine is doing.

    python benchmarks/bench_collect.py --callgrind
"""

from __future__ import annotations

import argparse
import re
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


def instructions(root: Path, extra: list[str]) -> int:
    """Instructions executed by one collection in a fresh interpreter, counted by callgrind."""
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        *extra,
    ]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed ({' '.join(extra) or 'plugin on'}):\n{done.stderr}")
    return int(found.group(1))


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
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    args = parser.parse_args()
    if args.callgrind:
        with tempfile.TemporaryDirectory() as tmp:
            make_suite(Path(tmp), args.tests)
            on = instructions(Path(tmp), [])
            off = instructions(Path(tmp), ["-p", "no:helios"])
        print(f"collect-only, {args.tests} tests, instructions counted by callgrind")
        print(f"  with pytest-helios : {on:>16,}")
        print(f"  -p no:helios       : {off:>16,}")
        print(f"  ratio              : {on / off:16.4f}  (target <= 1.05)")
        return
    figures = measure(args.tests, args.rounds)
    print(f"collect-only, {args.tests} tests, {args.rounds} rounds each (median)")
    print(f"  {'':22}{'with pytest-helios':>20}{'-p no:helios':>16}{'ratio':>9}")
    for kind, label in (("wall", "wall clock (ms)"), ("cpu", "CPU, user+sys (ms)")):
        a, b = figures[f"{kind}_on"], figures[f"{kind}_off"]
        print(f"  {label:22}{a * 1000:20.1f}{b * 1000:16.1f}{a / b:9.3f}")
    print("  target: ratio <= 1.05")


if __name__ == "__main__":
    main()
