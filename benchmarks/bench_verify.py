"""verify_webhook against bare hmac + compare_digest, side by side in one process.

Run: ``python benchmarks/bench_verify.py`` (add ``--quick`` for a smoke run).

Three comparisons per body size (1 KiB and 1 MiB JSON objects):

1. ``verify_webhook_signature`` (every check of ``verify_webhook`` except the JSON parse)
   against the bare ``hmac.new(...).hexdigest()`` + ``hmac.compare_digest``: the target is
   at least 0.8 of the bare throughput at 1 MiB.
2. ``verify_webhook`` (which also parses the body and returns the payload) against the same
   bare HMAC: shown for honesty, since at 1 MiB the JSON parse costs more than the HMAC.
3. ``verify_webhook`` against bare HMAC + compare + ``json.loads``: the same work done by hand.

Each figure is the best of several repeats (``timeit``); the ratio is bare time / our time,
so 1.0 means as fast as the bare code. Exit status 1 if target 1 is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import platform
import secrets
import sys
import timeit
from collections.abc import Callable

from pytest_helios.webhooks import sign_webhook, verify_webhook, verify_webhook_signature

TARGET = 0.8
NOW = 1_705_320_000


def make_body(size: int) -> bytes:
    """A webhook-shaped JSON object of exactly ``size`` bytes (lab results plus padding)."""
    lab = {"name": "Creatinine", "value": "1.8", "unit": "mg/dL", "flag": "High"}
    payload: dict[str, object] = {
        "runId": "550e8400-e29b-41d4-a716-446655440000",
        "status": "completed",
        "agent": "lab-results",
        "sequenceNumber": 8,
        "result": {"labResults": [lab] * max(1, size // 400), "patientResponse": ""},
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    padding = size - len(body)
    if padding < 0:
        raise ValueError(f"size {size} is too small")
    payload["result"]["patientResponse"] = "x" * padding  # type: ignore[index]
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == size, (len(body), size)
    return body


def best_seconds(call: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def measure(size: int, number: int, repeat: int, secret: str) -> list[tuple[str, float, float]]:
    """(comparison, bare seconds, our seconds) of the three comparisons for one body size."""
    key = secret.encode()
    body = make_body(size)
    headers = sign_webhook(body, secret, timestamp=NOW, run_id="r")
    header = headers["X-Helios-Signature"]

    def bare() -> bool:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header)

    def bare_and_parse() -> object:
        bare()
        return json.loads(body)

    def ours_signature() -> object:
        return verify_webhook_signature(body, headers, secret, now=NOW)

    def ours_full() -> object:
        return verify_webhook(body, headers, secret, now=NOW)

    figures = []
    for name, baseline, ours in (
        ("verify_webhook_signature vs hmac + compare_digest", bare, ours_signature),
        ("verify_webhook vs hmac + compare_digest", bare, ours_full),
        ("verify_webhook vs hmac + compare_digest + json.loads", bare_and_parse, ours_full),
    ):
        # warm up both, then alternate them, so that drift of the machine affects both alike
        best_seconds(baseline, number, 2)
        best_seconds(ours, number, 2)
        base_runs, our_runs = [], []
        for _ in range(repeat):
            base_runs.append(best_seconds(baseline, number, 1))
            our_runs.append(best_seconds(ours, number, 1))
        figures.append((name, min(base_runs), min(our_runs)))
    return figures


def compare(label: str, size: int, number: int, repeat: int, secret: str) -> float:
    """Print the three comparisons for one body size; return ratio 1 (the target's)."""
    figures = measure(size, number, repeat, secret)
    for name, base, mine in figures:
        print(f"{label:>8}  {name:<54} {base * 1e6:10.1f} {mine * 1e6:10.1f} {base / mine:6.2f}")
    return figures[0][1] / figures[0][2]


def main() -> int:
    parser = argparse.ArgumentParser(description="verify_webhook against bare hmac")
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke run")
    args = parser.parse_args()
    repeat = 3 if args.quick else 15
    secret = "whsec_" + secrets.token_hex(24)
    print(f"python {platform.python_version()} on {platform.machine()}, best of {repeat}")
    print(f"{'body':>8}  {'comparison':<54} {'bare µs':>10} {'ours µs':>10} {'ratio':>6}")
    compare("1 KiB", 1024, 200 if args.quick else 2000, repeat, secret)
    ratio = compare("1 MiB", 1024 * 1024, 2 if args.quick else 20, repeat, secret)
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"target: verify_webhook_signature >= {TARGET} of bare throughput at 1 MiB: "
        f"{ratio:.2f}, {verdict}"
    )
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
