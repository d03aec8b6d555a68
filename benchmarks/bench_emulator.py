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

from pytest_helios.payloads.builders import FINAL_SEQUENCE_NUMBER

HERE = Path(__file__).resolve().parent
CONNECTIONS = 8
BODY = json.dumps(
    {
        "webhookUrl": "https://hooks.example.test/webhook",  # reserved: accepted, never sent to
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
def process(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Start ``cmd``, yield its first line of output and its pid, stop it at the end."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip(), proc.pid
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """Median requests/s (and per server CPU-second) of the emulator and the baseline, and
    their non-200 answers."""
    key = "sk_live_" + secrets.token_hex(24)
    emulator_cmd = [
        sys.executable, "-m", "pytest_helios.emulator.cli", "--json",
        "--time-scale", "1", "--concurrency-limit", "100000000",
    ]  # fmt: skip
    env = {**os.environ, "HELIOS_BENCH_KEY": key}
    with (
        process(emulator_cmd) as (emu_line, emu_pid),
        process([sys.executable, str(HERE / "baseline_app.py")], env) as (base_line, base_pid),
    ):
        emu = json.loads(emu_line)
        servers = (
            ("baseline", int(base_line), key, base_pid),
            ("emulator", int(emu["url"].rsplit(":", 1)[1]), emu["apiKey"], emu_pid),
        )
        rates: dict[str, list[float]] = {"emulator": [], "baseline": []}
        per_cpu: dict[str, list[float]] = {"emulator": [], "baseline": []}
        errors: Counter[str] = Counter()
        for _name, port, api_key, _pid in servers:
            asyncio.run(load(port, api_key, 1.0))  # warm-up
        for _ in range(rounds):
            for name, port, api_key, pid in servers:
                cpu = cpu_seconds(pid)
                rate, statuses = asyncio.run(load(port, api_key, seconds))
                used = cpu_seconds(pid) - cpu
                rates[name].append(rate)
                per_cpu[name].append(sum(statuses.values()) / used if used else float("nan"))
                errors[name] += sum(n for status, n in statuses.items() if status != 200)
    figures: dict[str, float] = {}
    for name in ("emulator", "baseline"):
        figures[name] = statistics.median(rates[name])
        figures[f"{name}_per_cpu"] = statistics.median(per_cpu[name])
        figures[f"{name}_errors"] = errors[name]
    return figures


def accept_benchmark(seconds: float, rounds: int) -> float:
    figures = measure_accept(seconds, rounds)
    print(f"accept endpoint, {CONNECTIONS} connections, {rounds} x {seconds:g} s per server")
    labels = {
        "baseline": "baseline (Starlette+uvicorn, hashed key + schema)",
        "emulator": "emulator",
    }
    for name, label in labels.items():
        print(
            f"  {label:50s} {figures[name]:6.0f} req/s  "
            f"{figures[name + '_per_cpu']:6.0f} req per server CPU-s  "
            f"non-200: {int(figures[name + '_errors'])}"
        )
    ratio = figures["emulator"] / figures["baseline"]
    cpu_ratio = figures["emulator_per_cpu"] / figures["baseline_per_cpu"]
    ok = ratio >= 0.6 and not figures["emulator_errors"]
    verdict = "ok" if ok else "BELOW TARGET"
    print(
        f"  ratio emulator/baseline: {ratio:.2f} req/s, {cpu_ratio:.2f} per CPU-second  "
        f"(target >= 0.60 req/s, no errors): {verdict}"
    )
    return ratio


#: Webhooks per light run: a status update per step, then the result.
LIGHT_WEBHOOKS = FINAL_SEQUENCE_NUMBER["light"]


def measure_delivery(runs: int) -> dict[str, float]:
    """Delivery attempts per second for ``runs`` light runs, and what the receiver got."""
    receiver_cmd = [sys.executable, str(HERE / "receiver_app.py")]
    emulator_cmd = [
        sys.executable, "-m", "pytest_helios.emulator.cli", "--json",
        "--concurrency-limit", "100000000", "--delivery-attempts", "1",
    ]  # fmt: skip
    with process(receiver_cmd) as (receiver_port, _), process(emulator_cmd) as (emu_line, _):
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
        "expected": runs * LIGHT_WEBHOOKS,
        "unique": received["unique"],
        "duplicates": received["total"] - received["unique"],
        "failed": sum(1 for attempt in log if not attempt["ok"]),
        "lost": runs * LIGHT_WEBHOOKS - received["unique"],
    }


def delivery_benchmark(runs: int) -> None:
    d = measure_delivery(runs)
    print(f"deliveries: {runs} light runs x {LIGHT_WEBHOOKS} webhooks to a local receiver")
    print(
        f"  {d['attempts']:.0f} attempts in {d['seconds']:.2f} s: {d['rate']:.0f} deliveries/s "
        f"(from the first request until all were settled)"
    )
    print(
        f"  received {d['unique']:.0f} unique of {d['expected']:.0f} "
        f"(duplicates {d['duplicates']:.0f}, failed attempts {d['failed']:.0f}, "
        f"lost {d['lost']:.0f})"
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
