"""Every benchmark beside its anchor, in one run, in one table.

    python benchmarks/run_all.py            # 3 interleaved rounds (about an hour on 2 cores)
    python benchmarks/run_all.py --quick    # 1 short round, a smoke run (a few minutes)
    python benchmarks/run_all.py --json results.json   # also write the figures as JSON

It imports the measuring functions of the other scripts (``bench_validate``, ``bench_verify``,
``bench_emulator``, ``bench_collect``, ``bench_replay``, ``bench_roundtrip``), so each figure
is measured exactly as that script measures it, with its anchor side by side in the same
process run, and the table lists every target of issue 15: replay at 200 and 2,000 cassettes
of 1 and 50 interactions and the peak RSS at 2,000 (``--quick``: 50 cassettes, no RSS
target), the round trip against pytest-httpx, the 429 test and the emulator's start. The
rounds interleave the benchmarks (validate, verify, emulator, collection, replay, round trip,
then again), so a
burst of load on a shared machine hits every figure and its anchor alike; the table shows the
median over the rounds of each time and of each round's ratio (so the ratio need not equal
the quotient of the two median times), and the range of the ratios. Exit status 1 when a median
ratio misses its target, or when a benchmark fails (its rows say so; the others still run).

The baselines must be installed in the interpreter that runs this script (each benchmark's
pytest runs use ``sys.executable``): ``python -m pip install pytest-recording pytest-httpx
respx pytest-httpserver``. The script checks that first and names what is missing, rather
than failing in the middle of a round (a missing plugin makes its suite's pytest exit 4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# the scripts beside this one (also when run from elsewhere)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_collect
import bench_emulator
import bench_replay
import bench_roundtrip
import bench_validate
import bench_verify


@dataclass
class Row:
    """One line of the table: our figure, the anchor's, and the ratio the issue targets."""

    figure: str
    anchor: str
    unit: str
    ratio_means: str  # how the ratio is formed, e.g. "anchor / ours"
    target: Callable[[float], bool]
    target_text: str
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def add(self, ours: float, theirs: float, ratio: float) -> None:
        self.ours.append(ours)
        self.theirs.append(theirs)
        self.ratios.append(ratio)

    #: why a round measured nothing for this row (a benchmark that failed)
    failures: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else float("nan")

    @property
    def met(self) -> bool:
        return bool(self.ratios) and not self.failures and self.target(self.ratio)


@dataclass
class Extra:
    """A figure without an anchor (delivery rate, replay time per test)."""

    figure: str
    unit: str
    values: list[float] = field(default_factory=list)
    note: str = ""


@dataclass
class Settings:
    rounds: int
    validate_calls: int
    verify_numbers: tuple[int, int]  # calls per timing at 1 KiB and at 1 MiB
    verify_repeat: int
    emulator_seconds: float
    delivery_runs: int
    collect_tests: int
    collect_rounds: int
    replay_tests: tuple[int, ...]
    replay_rounds: int
    roundtrip_tests: int = 200
    roundtrip_starts: int = 5


#: interactions per cassette of the replay rows (the issue's shapes: 200 and 2,000 cassettes)
REPLAY_INTERACTIONS = (1, 50)

QUICK = Settings(1, 10, (200, 2), 3, 1.0, 50, 200, 2, (50,), 1, 50, 3)
FULL = Settings(3, 20, (2000, 20), 7, 3.0, 200, 500, 3, (200, 2000), 1, 200, 5)

#: what each benchmark's pytest runs load besides pytest-helios: module -> distribution
BASELINE_PLUGINS = {
    "pytest_recording": "pytest-recording",  # bench_replay
    "pytest_httpx": "pytest-httpx",  # bench_roundtrip
    "respx": "respx",
    "pytest_httpserver": "pytest-httpserver",
}


def missing_baselines() -> list[str]:
    """The baselines' distributions not installed in this interpreter."""
    return [
        name for module, name in BASELINE_PLUGINS.items() if not importlib.util.find_spec(module)
    ]


def _attempt(
    step: str, rows: list[Row], log: Callable[[str], None], measure: Callable[[], None]
) -> None:
    """Run one benchmark of a round; if it fails (a benchmark exits with its reason), its
    rows record the failure and the round goes on with the next one."""
    try:
        measure()
    except (Exception, SystemExit) as error:  # every failure is reported, the run goes on
        reason = str(error).strip().splitlines()
        shown = f"{type(error).__name__}: {reason[0] if reason else ''}"
        log(f"{step} FAILED: {' / '.join(reason[:12]) or type(error).__name__}")
        for row in rows:
            row.failures.append(f"{step}: {shown}")


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.1f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    return f"{value:,.0f} {unit}"


def run(settings: Settings, log: Callable[[str], None]) -> tuple[list[Row], list[Extra]]:
    validate = Row(
        "`validate` (200-lab request)", "`jsonschema.validate`", "s", "anchor / ours",
        lambda r: r >= 10, ">= 10",
    )  # fmt: skip
    verify_sig = Row(
        "`verify_webhook_signature`, 1 MiB", "bare `hmac` + `compare_digest`", "s",
        "anchor / ours", lambda r: r >= 0.8, ">= 0.8",
    )  # fmt: skip
    verify_full = Row(
        "`verify_webhook`, 1 MiB", "bare `hmac` + `compare_digest` + `json.loads`", "s",
        "anchor / ours", lambda r: True, "none",
    )  # fmt: skip
    verify_small = Row(
        "`verify_webhook_signature`, 1 KiB", "bare `hmac` + `compare_digest`", "s",
        "anchor / ours", lambda r: True, "none",
    )  # fmt: skip
    emulator = Row(
        "emulator accept endpoint", "minimal Starlette+uvicorn app", "req/s",
        "ours / anchor", lambda r: r >= 0.6, ">= 0.6",
    )  # fmt: skip
    collect = Row(
        f"`--collect-only`, {settings.collect_tests} tests", "`-p no:helios`", "s", "ours / anchor",
        lambda r: r <= 1.05, "<= 1.05",
    )  # fmt: skip
    replay_rows = {
        (t, n): Row(
            f"replay, CPU per test (start-up left out), {t:,} tests x {n} "
            f"interaction{'s' if n > 1 else ''}",
            "pytest-recording", "s", "ours / anchor", lambda r: r <= bench_replay.TIME_TARGET,
            f"<= {bench_replay.TIME_TARGET}",
        )
        for t in settings.replay_tests
        for n in REPLAY_INTERACTIONS
    }  # fmt: skip
    largest = max(settings.replay_tests)
    rss_target = largest >= bench_replay.RSS_TESTS
    replay_rss = {
        n: Row(
            f"peak RSS, replay of {largest:,} tests x {n} interaction{'s' if n > 1 else ''}",
            "pytest-recording", "MiB", "ours / anchor",
            (lambda r: r <= bench_replay.RSS_TARGET) if rss_target else (lambda r: True),
            f"<= {bench_replay.RSS_TARGET}" if rss_target
            else f"none (<= {bench_replay.RSS_TARGET} at {bench_replay.RSS_TESTS:,} tests)",
        )
        for n in REPLAY_INTERACTIONS
    }  # fmt: skip
    trip_target, ms_429, ms_start = (
        bench_roundtrip.TARGET, bench_roundtrip.TARGET_429_MS, bench_roundtrip.TARGET_START_MS,
    )  # fmt: skip
    roundtrip = Row(
        f"README's first test, per test ({settings.roundtrip_tests} tests)",
        "pytest-httpx (same scenario faked)", "s", "ours / anchor",
        lambda r: r <= trip_target, f"<= {trip_target}",
    )  # fmt: skip
    rate_limited = Row(
        "a 429 test (3 retries after `Retry-After: 60`, `helios_clock`)",
        "a test without the emulator", "s", "ours, ms", lambda r: r <= ms_429,
        f"<= {ms_429:g} ms",
    )  # fmt: skip
    # The emulator's start, from one-test runs (``bench_roundtrip``): the target applies to
    # the first two; the third also counts httpx's import, which a mocked test pays too.
    starts = {
        ("emulator only", "no emulator"): Row(
            "emulator start (one-test run asking only for `helios_emulator`)",
            "one-test run without the emulator", "s", "ours - anchor, ms",
            lambda r: r <= ms_start, f"<= {ms_start:g} ms",
        ),
        ("helios", bench_roundtrip.BASELINE): Row(
            "first use of the emulator (one-test run of the README's first test)",
            "the same test faked with pytest-httpx, one-test run", "s", "ours - anchor, ms",
            lambda r: r <= ms_start, f"<= {ms_start:g} ms",
        ),
        ("helios", "no emulator"): Row(
            "first use of the emulator, httpx's import included (same one-test run)",
            "one-test run without the emulator", "s", "ours - anchor, ms", lambda r: True,
            "none",
        ),
    }  # fmt: skip
    deliveries = Extra("emulator webhook deliveries", "deliveries/s")
    per_test = Extra("replay time per test (pytest-helios)", "s")
    lost = Extra("deliveries lost or duplicated", "")
    secret = "whsec_" + secrets.token_hex(24)

    def validate_() -> None:
        v = bench_validate.measure(settings.validate_calls, 3)
        validate.add(v["helios"], v["baseline"], v["baseline"] / v["helios"])

    def verify_() -> None:
        small = bench_verify.measure(
            1024, settings.verify_numbers[0], settings.verify_repeat, secret
        )
        _, base, ours = small[0]
        verify_small.add(ours, base, base / ours)
        large = bench_verify.measure(
            1024 * 1024, settings.verify_numbers[1], settings.verify_repeat, secret
        )
        _, base, ours = large[0]
        verify_sig.add(ours, base, base / ours)
        _, base, ours = large[2]
        verify_full.add(ours, base, base / ours)

    def emulator_() -> None:
        e = bench_emulator.measure_accept(settings.emulator_seconds, 1)
        emulator.add(e["emulator"], e["baseline"], e["emulator"] / e["baseline"])
        if e["emulator_errors"]:
            emulator.ratios[-1] = 0.0  # a non-200 answer fails the target outright
        d = bench_emulator.measure_delivery(settings.delivery_runs)
        deliveries.values.append(d["rate"])
        lost.values.append(d["lost"] + d["duplicates"])

    def collection_() -> None:
        c = bench_collect.measure(settings.collect_tests, settings.collect_rounds)
        collect.add(c["wall_on"], c["wall_off"], c["wall_on"] / c["wall_off"])

    def replay_() -> None:
        shapes = bench_replay.measure_shapes(
            settings.replay_tests, REPLAY_INTERACTIONS, settings.replay_rounds
        )
        for (tests, n), row in replay_rows.items():
            f = shapes[bench_replay.Shape(tests, n)]
            ours, theirs = (
                statistics.median(f.per_test(p, "cpu")) for p in ("helios", "recording")
            )
            row.add(ours, theirs, statistics.median(f.ratios("cpu", startup=False)))
        for n, row in replay_rss.items():
            f = shapes[bench_replay.Shape(largest, n)]
            rss = (f.median("helios", "rss") / 2**20, f.median("recording", "rss") / 2**20)
            row.add(*rss, statistics.median(f.ratios("rss")))
        one = shapes[bench_replay.Shape(min(settings.replay_tests), 1)]
        per_test.values.append(one.median("helios", "wall") / one.shape.tests)

    def roundtrip_() -> None:
        t = bench_roundtrip.measure(settings.roundtrip_tests, 1, settings.roundtrip_starts, log)
        roundtrip.add(t.median("helios") / 1000, t.median("pytest-httpx") / 1000, t.ratio)
        plain = t.median("no emulator")
        rate_limited.add(t.rate_limited / 1000, plain / 1000, t.rate_limited)  # as its script
        for (ours, anchor), row in starts.items():
            row.add(
                statistics.median(t.starts[ours]) / 1000,
                statistics.median(t.starts[anchor]) / 1000,
                statistics.median(t.start_diff(ours, anchor)),
            )

    steps = [
        ("validate", [validate], validate_),
        ("verify", [verify_sig, verify_full, verify_small], verify_),
        ("emulator", [emulator], emulator_),
        ("collection", [collect], collection_),
        ("replay", [*replay_rows.values(), *replay_rss.values()], replay_),
        ("round trip", [roundtrip, rate_limited, *starts.values()], roundtrip_),
    ]
    for round_ in range(1, settings.rounds + 1):
        for step, step_rows, measure in steps:
            log(f"round {round_}/{settings.rounds}: {step}")
            _attempt(step, step_rows, log, measure)

    per_run = bench_emulator.FINAL_SEQUENCE_NUMBER["light"]
    deliveries.note = (
        f"{settings.delivery_runs} light runs x {per_run} webhooks, to a local receiver"
    )
    per_test.note = f"{min(settings.replay_tests):,} tests x 1 interaction, start-up included"
    lost.note = "receiver's unique (runId, sequenceNumber) against the expected count"
    rows = [validate, verify_sig, verify_full, verify_small, emulator, collect]
    rows += [*replay_rows.values(), *replay_rss.values()]
    return [*rows, roundtrip, rate_limited, *starts.values()], [
        deliveries,
        per_test,
        lost,
    ]


def table(rows: list[Row], extras: list[Extra]) -> str:
    lines = [
        "| figure | pytest-helios | anchor | anchor figure | ratio | ratio range | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if not row.ratios:
            reason = row.failures[0] if row.failures else "not measured"
            lines.append(
                f"| {row.figure} | failed | {row.anchor} | | | | "
                f"{row.target_text} **FAILED** ({reason}) |"
            )
            continue
        verdict = (
            "" if row.target_text.startswith("none") else (" met" if row.met else " **MISSED**")
        )
        if row.failures:
            verdict += f" ({len(row.failures)} round(s) failed: {row.failures[0]})"
        lines.append(
            f"| {row.figure} | {_fmt(statistics.median(row.ours), row.unit)} | {row.anchor} | "
            f"{_fmt(statistics.median(row.theirs), row.unit)} | "
            f"{row.ratio:.2f} ({row.ratio_means}) | "
            f"{min(row.ratios):.2f} to {max(row.ratios):.2f} | "
            f"{row.target_text}{verdict} |"
        )
    for extra in extras:
        if not extra.values:
            lines.append(f"| {extra.figure} | failed | {extra.note} | | | | |")
            continue
        value = statistics.median(extra.values)
        shown = _fmt(value, extra.unit) if extra.unit else f"{max(extra.values):.0f}"
        lines.append(f"| {extra.figure} | {shown} | {extra.note} | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error(f"argument --rounds: {args.rounds} is not a positive number")
        settings.rounds = args.rounds

    missing = missing_baselines()
    if missing:
        print(
            f"run_all: the baselines {', '.join(missing)} are not installed in this "
            f"interpreter ({sys.executable}); install them first:\n"
            f"  python -m pip install {' '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows, extras = run(settings, lambda line: print(f"  ... {line}", file=sys.stderr, flush=True))
    load_after = os.getloadavg()[0]
    elapsed = time.perf_counter() - started

    command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    if args.rounds is not None:
        command += f" --rounds {args.rounds}"
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{command}: {today}, Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load_before:.1f} before / {load_after:.1f} "
        f"after, {settings.rounds} interleaved round(s), medians, {elapsed:.0f} s"
    )
    print()
    print(table(rows, extras))
    if args.json is not None:
        document = {
            "command": command,
            "date": today,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load": [load_before, load_after],
            "rounds": settings.rounds,
            "figures": [
                {
                    "figure": r.figure,
                    "anchor": r.anchor,
                    "unit": r.unit,
                    "ours": r.ours,
                    "anchor_values": r.theirs,
                    "ratios": r.ratios,
                    "ratio": r.ratio,
                    "ratio_means": r.ratio_means,
                    "target": r.target_text,
                    "met": r.met,
                    "failures": r.failures,
                }
                for r in rows
            ],
            "extras": [{"figure": x.figure, "unit": x.unit, "values": x.values} for x in extras],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
