"""Emulator throughput, side by side with a minimal baseline, in one run.

1. Accept endpoint: ``POST /api/v1/agent`` with a valid key and full validation, driven by a
   load generator on loopback (8 keep-alive connections, raw sockets), against the emulator
   (``helios-emulator``) and against ``baseline_app.py`` (Starlette + uvicorn that only checks
   a hashed key and validates the same schema). Each server runs in its own process; the rounds
   alternate between them. Target (issue 4): emulator >= 0.6 x baseline requests/s, no errors.
   The emulator runs with ``--time-scale 1`` so that accepted runs wait (documented minutes)
   instead of delivering during the measurement, and a limit high enough never to answer 429.
2. Deliveries: the emulator (runs end at once) delivers every webhook of N light runs to a
   local receiver; deliveries per second from the first request until all are settled, and a
   check that none was lost (the receiver got each (runId, sequenceNumber) exactly once).

    python benchmarks/bench_emulator.py [--seconds 5] [--rounds 3] [--runs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CONNECTIONS = 8
BODY = json.dumps(
    {
        "webhookUrl": "https://example.org/webhook",
        "agentType": "light",
        "data": {
            "patientInfo": {"age": 45, "gender": "male"},
            "recentAbnormalLabs": [
                {
                    "date": "2025-01-15",
                    "display": "Hemoglobin A1c",
                    "value": "7.2",
                    "unit": "%",
                    "referenceRange": "4.0-5.6",
                    "interpretation": "High",
                }
            ],
            "medications": [{"medication": "Metformin 500mg", "status": "active"}],
        },
    }
).encode()


@contextmanager
def process(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``cmd``, yield its first line of output, stop it at the end."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def request_bytes(port: int, key: str) -> bytes:
    head = (
        f"POST /api/v1/agent HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"x-api-key: {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


async def load(port: int, key: str, seconds: float) -> tuple[float, Counter[int]]:
    """Requests per second over ``seconds`` with CONNECTIONS keep-alive connections."""
    payload = request_bytes(port, key)
    statuses: Counter[int] = Counter()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            statuses[status] += 1
        writer.close()
        await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return sum(statuses.values()) / (time.perf_counter() - start), statuses


def measure_accept(seconds: float, rounds: int) -> dict[str, float]:
    """Median requests/s of the emulator and the baseline, and their non-200 answers."""
    key = "sk_live_" + secrets.token_hex(24)
    emulator_cmd = [
        sys.executable, "-m", "pytest_helios.emulator.cli", "--json",
        "--time-scale", "1", "--concurrency-limit", "100000000",
    ]  # fmt: skip
    env = {**os.environ, "HELIOS_BENCH_KEY": key}
    with (
        process(emulator_cmd) as emu_line,
        process([sys.executable, str(HERE / "baseline_app.py")], env) as base_line,
    ):
        emu = json.loads(emu_line)
        emu_port = int(emu["url"].rsplit(":", 1)[1])
        base_port = int(base_line)
        rates: dict[str, list[float]] = {"emulator": [], "baseline": []}
        errors: Counter[str] = Counter()
        servers = (("baseline", base_port, key), ("emulator", emu_port, emu["apiKey"]))
        for _name, port, api_key in servers:
            asyncio.run(load(port, api_key, 1.0))  # warm-up
        for _ in range(rounds):
            for name, port, api_key in servers:
                rate, statuses = asyncio.run(load(port, api_key, seconds))
                rates[name].append(rate)
                errors[name] += sum(n for status, n in statuses.items() if status != 200)
    return {
        "emulator": statistics.median(rates["emulator"]),
        "baseline": statistics.median(rates["baseline"]),
        "emulator_errors": errors["emulator"],
        "baseline_errors": errors["baseline"],
    }


def accept_benchmark(seconds: float, rounds: int) -> float:
    figures = measure_accept(seconds, rounds)
    emulator, baseline = figures["emulator"], figures["baseline"]
    errors = {n: int(figures[f"{n}_errors"]) for n in ("emulator", "baseline")}
    print(f"accept endpoint, {CONNECTIONS} connections, {rounds} x {seconds:g} s per server")
    print(
        f"  baseline (Starlette+uvicorn, hashed key + schema): {baseline:8.0f} req/s  "
        f"non-200: {errors['baseline']}"
    )
    print(
        f"  emulator:                                          {emulator:8.0f} req/s  "
        f"non-200: {errors['emulator']}"
    )
    ratio = emulator / baseline
    verdict = "ok" if ratio >= 0.6 and not errors["emulator"] else "BELOW TARGET"
    print(f"  ratio emulator/baseline: {ratio:.2f}  (target >= 0.60, no errors): {verdict}")
    return ratio


def measure_delivery(runs: int) -> dict[str, float]:
    """Delivery attempts per second for ``runs`` light runs, and what the receiver got."""
    receiver_cmd = [sys.executable, str(HERE / "receiver_app.py")]
    emulator_cmd = [
        sys.executable, "-m", "pytest_helios.emulator.cli", "--json",
        "--concurrency-limit", "100000000", "--delivery-attempts", "1",
    ]  # fmt: skip
    with process(receiver_cmd) as receiver_port, process(emulator_cmd) as emu_line:
        emu = json.loads(emu_line)
        hook = f"http://127.0.0.1:{receiver_port}/webhook"
        body = json.loads(BODY)
        body["webhookUrl"] = hook
        with httpx.Client(
            base_url=emu["url"], headers={"x-api-key": emu["apiKey"]}, timeout=120
        ) as client:
            start = time.perf_counter()
            for _ in range(runs):
                client.post("/api/v1/agent", json=body).raise_for_status()
            settled = client.post("/_emulator/wait", json={"timeout": 600})
            elapsed = time.perf_counter() - start
            settled.raise_for_status()
            log = client.get("/_emulator/deliveries").json()
        received = httpx.get(f"http://127.0.0.1:{receiver_port}/count").json()
    return {
        "attempts": len(log),
        "seconds": elapsed,
        "rate": len(log) / elapsed,
        "expected": runs * 7,
        "unique": received["unique"],
        "duplicates": received["total"] - received["unique"],
        "failed": sum(1 for attempt in log if not attempt["ok"]),
        "lost": runs * 7 - received["unique"],
    }


def delivery_benchmark(runs: int) -> None:
    f = measure_delivery(runs)
    print(f"deliveries: {runs} light runs x 7 webhooks to a local receiver")
    print(
        f"  {f['attempts']:.0f} attempts in {f['seconds']:.2f} s: {f['rate']:.0f} deliveries/s "
        f"(from the first request until all were settled)"
    )
    print(
        f"  received {f['unique']:.0f} unique of {f['expected']:.0f} "
        f"(duplicates {f['duplicates']:.0f}, failed attempts {f['failed']:.0f}, "
        f"lost {f['lost']:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    accept_benchmark(args.seconds, args.rounds)
    delivery_benchmark(args.runs)


if __name__ == "__main__":
    main()
