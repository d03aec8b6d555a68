"""A slowloris and a connection flood against the emulator, while a normal client keeps
asking: every one of its requests is answered, each within a second.

The emulator runs in a process of its own, as it does for clients in other languages, and so
does the attack (the normal client shares its interpreter with neither): SLOWLORIS connections
that each send part of a request and then a byte every half second (reopened whenever the
emulator closes one), and a flood that opens FLOOD_RATE idle connections a second, keeping the
newest FLOOD of them. (Unpaced, a flood from this machine only measures which process gets
more of its cores: the kernel then drops connection attempts, the normal client's too.) The
attack lasts as long as one phase of the soak (HELIOS_SOAK_SECONDS / 4, 5 s at least, 60 s at
most) and stops by itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.samples import lab_request
from tests.script_process import script_process

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

SLOWLORIS = 600  # more than the emulator's connection cap here (512)
FLOOD = 1000
FLOOD_RATE = 1000  # new idle connections a second
ANSWER_WITHIN = 1.0  # seconds, for each request of the normal client
SECONDS = min(max(scale().soak_seconds / 4, 5.0), 60.0)

SERVE = """
import json, sys
from pytest_helios.emulator import HeliosEmulator
with HeliosEmulator(header_timeout=10) as emu:
    key = emu.create_account("normal").create_key("ci").value
    print(json.dumps({"url": emu.url, "key": key}), flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The emulator in a process of its own: its URL, an API key, its standard error."""
    stderr = tmp_path / "stderr.txt"
    with script_process(SERVE, stderr, stop_within=60) as facts:
        yield facts["url"], facts["key"], stderr


ATTACK = """
import json, socket, sys, threading, time
from collections import deque

host, port, seconds, slowloris_count, flood_count, flood_rate = sys.argv[1:7]
target = (host, int(port))
deadline = time.monotonic() + float(seconds)
counts = {"trickling opened": 0, "trickling closed by the emulator": 0, "flood opened": 0}
lock = threading.Lock()


def count(what, n=1):
    with lock:
        counts[what] += n


def open_trickling():
    try:
        sock = socket.create_connection(target, timeout=2)
        sock.sendall(b"POST /api/v1/agent HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")
    except OSError:
        return None
    count("trickling opened")
    return sock


def slowloris():
    held = [s for s in (open_trickling() for _ in range(int(slowloris_count))) if s]
    while time.monotonic() < deadline:
        for index, sock in enumerate(held):
            try:
                sock.sendall(b"X")
            except OSError:
                sock.close()
                count("trickling closed by the emulator")
                replacement = open_trickling()
                if replacement is not None:
                    held[index] = replacement
        time.sleep(0.5)
    for sock in held:
        sock.close()


def flood():
    kept = deque()
    pace = 1 / float(flood_rate)
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        next_at += pace
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            kept.append(socket.create_connection(target, timeout=2))
        except OSError:
            time.sleep(0.01)
            continue
        count("flood opened")
        if len(kept) > int(flood_count):
            kept.popleft().close()
    for sock in kept:
        sock.close()


print("attacking", flush=True)
threads = [threading.Thread(target=slowloris), threading.Thread(target=flood)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(counts), flush=True)
"""


def test_a_normal_client_is_answered_within_a_second_through_a_slowloris_and_a_flood(
    emulator_process: tuple[str, str, Path],
) -> None:
    url, key, stderr = emulator_process
    host, port = url.removeprefix("http://").rsplit(":", 1)
    attacker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            ATTACK,
            host,
            port,
            *map(str, (SECONDS, SLOWLORIS, FLOOD, FLOOD_RATE)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert attacker.stdout is not None
    latencies: list[float] = []
    failures: list[str] = []
    try:
        assert attacker.stdout.readline() == "attacking\n"
        time.sleep(1)  # let the attack build up
        deadline = time.monotonic() + SECONDS - 1.5
        index = 0
        while time.monotonic() < deadline:
            index += 1
            # a fresh connection each time, as a new client would open (plain http: no CA
            # bundle to load, which would cost more than the request)
            client = httpx.Client(base_url=url, timeout=5, verify=False)
            started = time.monotonic()
            try:
                with client:
                    if index % 5:
                        ok = client.get("/_emulator/health").status_code == 200
                    else:
                        response = client.post(
                            "/api/v1/lab-results", headers={"x-api-key": key}, json=lab_request()
                        )
                        ok = response.status_code in (200, 429)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.monotonic() - started)
            if not ok:
                failures.append("unexpected status")
            time.sleep(0.05)
        attacked = json.loads(attacker.stdout.readline())
    finally:
        try:
            attacker.wait(timeout=SECONDS + 30)
        except subprocess.TimeoutExpired:
            attacker.kill()
            attacker.wait()
        attacker.stdout.close()
    logged = stderr.read_text(errors="replace").splitlines()
    TALLY["slowloris and flood", "seconds under attack"] += round(SECONDS)
    for what, count in attacked.items():
        TALLY["slowloris and flood", f"connections: {what}"] += count
    TALLY["slowloris and flood", "normal requests answered"] += len(latencies)
    TALLY["slowloris and flood", "normal requests not answered"] += len(failures)
    TALLY["slowloris and flood", "slowest normal answer (ms)"] += round(max(latencies) * 1000)
    TALLY["slowloris and flood", "lines the emulator logged"] += len(logged)
    assert not failures, failures[:10]
    assert len(latencies) >= 10
    assert max(latencies) < ANSWER_WITHIN, sorted(latencies)[-5:]
    assert attacked["trickling opened"] >= SLOWLORIS and attacked["flood opened"] > FLOOD
    assert len(logged) < 50, "\n".join(logged[:50])
