"""A whole signed round trip: pytest-helios against the mocks users would otherwise write.

Target (issue 15): the README's first test, unchanged, costs at most 2.0x the per-test time of
the same scenario faked with pytest-httpx.

    python -m pip install pytest-httpx respx pytest-httpserver   # the baselines
    python benchmarks/bench_roundtrip.py [--tests 200] [--rounds 3]

The scenario, per test: submit lab results (one POST), then receive the run's eight signed
webhooks (seven status updates and the completed result) at a local verifying receiver, wait
for the final one and validate it against the schema.

- ``helios``: the README's first test as written (``helios_client``,
  ``helios_webhook_receiver``): the embedded emulator answers the POST and delivers the eight
  webhooks over loopback HTTP.
- ``pytest-httpx``, ``respx``: the POST is mocked; the eight webhooks are built and signed by
  ``WebhookFactory.run`` and posted to the same ``WebhookReceiver`` over loopback HTTP (the
  receiver's host is not mocked), all with one httpx client per module, as a careful user
  would write it.
- ``pytest-httpserver``: the POST goes to a local pytest-httpserver answering the accepted
  body; the webhooks as above.

Each suite runs in a fresh interpreter with only its own plugin (plugin autoload off), with
``--tests`` tests and with none; the per-test cost is the slope, (T(N) - T(0)) / N, so start-up
and collection cancel out. Rounds interleave the suites (the order rotates each round), so
machine noise hits all alike. Printed: per-test wall and CPU medians with their ranges, and
last the ratio of helios's median per-test wall time to pytest-httpx's. The script exits 1
when a target is missed.

Two more targets, measured in the same rounds beside their baseline, a test that does not use
the emulator (``def test_plain(): pass``, the helios plugin loaded):

- ``429 test`` (at most 50 ms a test): ``helios_client`` with ``rate_limit_retries=3`` meets
  ``Retry-After: 60`` four times (``exhaust_concurrency``) and raises ``HeliosRateLimited``,
  ``helios_clock.slept == [60, 60, 60]``; per-test slope as above, minus the baseline's.
- ``emulator start`` (at most 100 ms): one-test suites, ``--starts`` runs of each per round,
  alternating, compared by the medians of their whole runs' wall times:

  - the emulator's start itself: a test that asks for ``helios_emulator`` and does nothing
    else, against the baseline: importing the emulator, its loop thread and server;
  - the README's first test against the same test faked with pytest-httpx: what the first
    test pays for using the emulator instead of a mock, the client and receiver (which both
    tests use) left out: the emulator's start, the account, key and the round trip;
  - the README's first test against the baseline: everything its first use costs, the
    imports of httpx (which any test with an httpx client pays) included.

  The target applies to the first two; all three are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET = 2.0
TARGET_429_MS = 50.0
TARGET_START_MS = 100.0
LABS = '[{"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High"}]'

HELIOS_TEST = """
def test_lab_results_come_back_as_a_signed_webhook_{i}(helios_client, helios_webhook_receiver):
    run = helios_client.submit_lab_results(
        lab_results={labs},
        webhook_url=helios_webhook_receiver.url,
    )
    result = helios_webhook_receiver.wait_for_final(run.run_id)
    validate("webhook-lab-results-completed", result)
"""

# The baselines share the user's code under test: submit with httpx, receive at a verifying
# receiver. Only how the API is faked differs.
BASELINE_PRELUDE = """
import secrets
import uuid

import httpx
import pytest

from pytest_helios import validate
from pytest_helios.webhooks import WebhookFactory, WebhookReceiver

SECRET = "whsec_" + secrets.token_hex(24)
API = "https://api.heliosai.health"


@pytest.fixture
def receiver():
    with WebhookReceiver(SECRET) as r:
        yield r


# One client for the module, as a careful user writes it: a client per test would cost more
# than everything else here (each loads the CA bundle).
CLIENT = httpx.Client(headers={{"x-api-key": "sk_live_" + "0" * 32}})
FACTORY = WebhookFactory(SECRET)


def submit(base_url, webhook_url):
    answer = CLIENT.post(base_url + "/api/v1/lab-results",
                         json={{"labResults": {labs}, "webhookUrl": webhook_url}})
    answer.raise_for_status()
    return answer.json()["runId"]


def deliver_the_run(run_id, url):
    for delivery in FACTORY.run("lab-results", run_id=run_id):
        assert CLIENT.post(url, content=delivery.body, headers=delivery.headers).status_code == 200


def accepted():
    run_id = str(uuid.uuid4())
    return run_id, {{"runId": run_id, "status": "accepted",
                    "message": "Request accepted. Results will be delivered to your webhook."}}
"""

HTTPX_TEST = """
@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_mocked_round_trip_{i}(httpx_mock, receiver):
    run_id, body = accepted()
    httpx_mock.add_response(method="POST", url=API + "/api/v1/lab-results", json=body)
    assert submit(API, receiver.url) == run_id
    deliver_the_run(run_id, receiver.url)
    validate("webhook-lab-results-completed", receiver.wait_for_final(run_id))
"""

RESPX_TEST = """
def test_mocked_round_trip_{i}(receiver):
    import respx

    run_id, body = accepted()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(API + "/api/v1/lab-results").respond(json=body)
        mock.route(host="127.0.0.1").pass_through()
        assert submit(API, receiver.url) == run_id
        deliver_the_run(run_id, receiver.url)
    validate("webhook-lab-results-completed", receiver.wait_for_final(run_id))
"""

HTTPSERVER_TEST = """
def test_served_round_trip_{i}(httpserver, receiver):
    run_id, body = accepted()
    httpserver.expect_request("/api/v1/lab-results", method="POST").respond_with_json(body)
    assert submit(httpserver.url_for("").rstrip("/"), receiver.url) == run_id
    deliver_the_run(run_id, receiver.url)
    validate("webhook-lab-results-completed", receiver.wait_for_final(run_id))
"""

RATE_LIMITED_TEST = """
def test_rate_limited_{i}(helios_client, helios_account, helios_clock):
    helios_account.exhaust_concurrency("lab-results")
    with pytest.raises(HeliosRateLimited):
        helios_client.submit_lab_results(lab_results={labs}, webhook_url="http://127.0.0.1:9/h")
    assert helios_clock.slept == [60, 60, 60]
"""
RATE_LIMITED_PRELUDE = """
import pytest

from pytest_helios import HeliosRateLimited
"""
RATE_LIMITED_CONFTEST = """
def pytest_helios_client_options(config, options):
    options["rate_limit_retries"] = 3
"""
PLAIN_TEST = """
def test_plain_{i}():
    pass
"""
EMULATOR_ONLY_TEST = """
def test_emulator_{i}(helios_emulator):
    pass
"""

#: name -> (module prelude, test template, the one plugin loaded)
SUITES: dict[str, tuple[str, str, str | None]] = {
    "helios": ("from pytest_helios import validate\n", HELIOS_TEST, "pytest_helios.plugin"),
    "pytest-httpx": (BASELINE_PRELUDE, HTTPX_TEST, "pytest_httpx"),
    "respx": (BASELINE_PRELUDE, RESPX_TEST, None),
    "pytest-httpserver": (BASELINE_PRELUDE, HTTPSERVER_TEST, "pytest_httpserver"),
}
#: the 429 test and its baseline (same shape as SUITES)
EXTRA_SUITES: dict[str, tuple[str, str, str | None]] = {
    "429 test": (RATE_LIMITED_PRELUDE, RATE_LIMITED_TEST, "pytest_helios.plugin"),
    "no emulator": ("", PLAIN_TEST, "pytest_helios.plugin"),
    "emulator only": ("", EMULATOR_ONLY_TEST, "pytest_helios.plugin"),
}
#: the one-test suites of the start figures
ONE_TEST = ("helios", "pytest-httpx", "emulator only", "no emulator")
BASELINE = "pytest-httpx"


def _suite(name: str) -> tuple[str, str, str | None]:
    return SUITES[name] if name in SUITES else EXTRA_SUITES[name]


def write_suite(root: Path, name: str, tests: int) -> Path:
    prelude, template, _ = _suite(name)
    folder = root / f"{name}-{tests}".replace(" ", "_")
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    if name == "429 test":
        (folder / "conftest.py").write_text(RATE_LIMITED_CONFTEST)
    body = [prelude.format(labs=LABS)]
    body += [template.format(i=i, labs=LABS) for i in range(tests)]
    (folder / "test_round_trip.py").write_text("\n".join(body))
    return folder


def run_suite(folder: Path, name: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh pytest run of ``folder`` (children's CPU)."""
    plugin = _suite(name)[2]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if plugin is not None:
        command += ["-p", plugin]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    # bytecode cached, as in any install (the baselines' site-packages have theirs)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 5):  # 5: the empty suite collected no test
        sys.exit(f"{name} in {folder.name} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):10.2f} ({min(values):.2f}-{max(values):.2f})"


@dataclass
class Figures:
    """What :func:`measure` found: per-test wall and CPU ms of every suite, per round; the
    one-test runs' median wall ms per round (:data:`ONE_TEST`); and their differences."""

    tests: int
    rounds: int
    per_test: dict[str, dict[str, list[float]]]
    starts: dict[str, list[float]]
    start_diffs: list[float]

    def start_diff(self, ours: str, baseline: str) -> list[float]:
        """Per round, the one-test run of ``ours`` less that of ``baseline`` (ms)."""
        return [a - b for a, b in zip(self.starts[ours], self.starts[baseline], strict=True)]

    @property
    def emulator_start(self) -> float:
        """A test asking only for ``helios_emulator`` over one without it (median, ms)."""
        return statistics.median(self.start_diff("emulator only", "no emulator"))

    @property
    def first_use_over_mock(self) -> float:
        """The README's first test over the same test faked with pytest-httpx (median, ms)."""
        return statistics.median(self.start_diff("helios", BASELINE))

    def median(self, name: str, kind: str = "wall") -> float:
        return statistics.median(self.per_test[name][kind])

    @property
    def ratio(self) -> float:
        """helios's median per-test wall time over pytest-httpx's."""
        return self.median("helios") / self.median(BASELINE)

    @property
    def rate_limited(self) -> float:
        return self.median("429 test")

    @property
    def start(self) -> float:
        """The README's first test over a test without the emulator (median, ms)."""
        return statistics.median(self.start_diffs)


def measure(tests: int, rounds: int, starts_per_round: int = 5, log: Any = print) -> Figures:
    """Every suite, interleaved over ``rounds`` (see the module docstring)."""
    names = [*SUITES, "429 test", "no emulator"]  # the per-test slopes
    per_test: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in names}
    starts: dict[str, list[float]] = {name: [] for name in ONE_TEST}
    start_diffs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-roundtrip-") as tmp:
        root = Path(tmp)
        folders = {n: (write_suite(root, n, 0), write_suite(root, n, tests)) for n in names}
        ones = {n: write_suite(root, n, 1) for n in starts}
        for round_ in range(rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                empty, full = folders[name]
                wall0, cpu0 = run_suite(empty, name)
                wall, cpu = run_suite(full, name)
                per_test[name]["wall"].append((wall - wall0) / tests * 1000)
                per_test[name]["cpu"].append((cpu - cpu0) / tests * 1000)
                log(
                    f"round {round_ + 1} {name:18} {per_test[name]['wall'][-1]:8.2f} ms/test wall"
                    f" {per_test[name]['cpu'][-1]:8.2f} ms/test CPU"
                )
            walls: dict[str, list[float]] = {n: [] for n in starts}
            for _ in range(starts_per_round):  # one-test runs, alternating
                for name in starts:
                    walls[name].append(run_suite(ones[name], name)[0] * 1000)
            for name in starts:
                starts[name].append(statistics.median(walls[name]))
            start_diffs.append(starts["helios"][-1] - starts["no emulator"][-1])
            log(
                f"round {round_ + 1} one-test runs: "
                + ", ".join(f"{n} {starts[n][-1]:.0f} ms" for n in starts)
            )
    return Figures(tests, rounds, per_test, starts, start_diffs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=5, help="one-test runs per suite per round")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    figures = measure(args.tests, args.rounds, args.starts, lambda line: print(line, flush=True))
    names, per_test = list(figures.per_test), figures.per_test
    starts, start_diffs = figures.starts, figures.start_diffs
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"\nper-test cost, slope of {args.tests} vs 0 tests, {args.rounds} interleaved rounds")
    print(f"{'suite':18} {'wall ms median (range)':>28} {'CPU ms median (range)':>28}")
    for name in names:
        wall, cpu = per_test[name]["wall"], per_test[name]["cpu"]
        print(f"{name:18} {_median_range(wall)}{'':6} {_median_range(cpu)}")
    rate_limited = statistics.median(per_test["429 test"]["wall"])
    plain = statistics.median(per_test["no emulator"]["wall"])
    start = statistics.median(start_diffs)
    print(
        f"\n429 test: {rate_limited:.2f} ms a test (baseline, a test without the emulator: "
        f"{plain:.2f} ms; {'meets' if rate_limited <= TARGET_429_MS else 'misses'} the target "
        f"of at most {TARGET_429_MS:g} ms)"
    )
    print("\none-test runs, whole-run wall ms, medians (ranges) of the rounds:")
    for name in ONE_TEST:
        print(f"  {name:18} {_median_range(starts[name])}")

    def difference(label: str, ours: str, baseline: str, target: bool) -> None:
        diffs = figures.start_diff(ours, baseline)
        value = statistics.median(diffs)
        verdict = (
            f"; {'meets' if value <= TARGET_START_MS else 'misses'} the target of at most "
            f"{TARGET_START_MS:g} ms"
            if target
            else ""
        )
        print(f"{label}: {value:.1f} ms ({min(diffs):.1f}-{max(diffs):.1f}{verdict})")

    difference("emulator start (helios_emulator alone over no emulator)",
               "emulator only", "no emulator", True)  # fmt: skip
    difference("first use over the same test mocked (README test over pytest-httpx)",
               "helios", BASELINE, True)  # fmt: skip
    difference("first use over a test without the emulator (README test over no emulator; "
               "httpx's import included)", "helios", "no emulator", False)  # fmt: skip
    start = max(figures.emulator_start, figures.first_use_over_mock)
    ratio = statistics.median(per_test["helios"]["wall"]) / statistics.median(
        per_test[BASELINE]["wall"]
    )
    cpu_ratio = statistics.median(per_test["helios"]["cpu"]) / statistics.median(
        per_test[BASELINE]["cpu"]
    )
    verdict = "meets" if ratio <= TARGET else "misses"
    print(
        f"\nhelios / {BASELINE}: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU per test "
        f"({verdict} the target of at most {TARGET}x wall)"
    )
    met = ratio <= TARGET and rate_limited <= TARGET_429_MS and start <= TARGET_START_MS
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
