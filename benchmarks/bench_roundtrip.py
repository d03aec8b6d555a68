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
when that ratio misses the target.
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
from pathlib import Path

TARGET = 2.0
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

#: name -> (module prelude, test template, the one plugin loaded)
SUITES: dict[str, tuple[str, str, str | None]] = {
    "helios": ("from pytest_helios import validate\n", HELIOS_TEST, "pytest_helios.plugin"),
    "pytest-httpx": (BASELINE_PRELUDE, HTTPX_TEST, "pytest_httpx"),
    "respx": (BASELINE_PRELUDE, RESPX_TEST, None),
    "pytest-httpserver": (BASELINE_PRELUDE, HTTPSERVER_TEST, "pytest_httpserver"),
}
BASELINE = "pytest-httpx"


def write_suite(root: Path, name: str, tests: int) -> Path:
    prelude, template, _ = SUITES[name]
    folder = root / f"{name}-{tests}"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    body = [prelude.format(labs=LABS)]
    body += [template.format(i=i, labs=LABS) for i in range(tests)]
    (folder / "test_round_trip.py").write_text("\n".join(body))
    return folder


def run_suite(folder: Path, name: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh pytest run of ``folder`` (children's CPU)."""
    plugin = SUITES[name][2]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if plugin is not None:
        command += ["-p", plugin]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 5):  # 5: the empty suite collected no test
        sys.exit(f"{name} in {folder.name} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = list(SUITES)
    per_test: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in names}
    with tempfile.TemporaryDirectory(prefix="bench-roundtrip-") as tmp:
        root = Path(tmp)
        folders = {n: (write_suite(root, n, 0), write_suite(root, n, args.tests)) for n in names}
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                empty, full = folders[name]
                wall0, cpu0 = run_suite(empty, name)
                wall, cpu = run_suite(full, name)
                per_test[name]["wall"].append((wall - wall0) / args.tests * 1000)
                per_test[name]["cpu"].append((cpu - cpu0) / args.tests * 1000)
                print(
                    f"round {round_ + 1} {name:18} {per_test[name]['wall'][-1]:8.2f} ms/test wall"
                    f" {per_test[name]['cpu'][-1]:8.2f} ms/test CPU",
                    flush=True,
                )
    print(f"\nper-test cost, slope of {args.tests} vs 0 tests, {args.rounds} interleaved rounds")
    print(f"{'suite':18} {'wall ms median (range)':>28} {'CPU ms median (range)':>28}")
    for name in names:
        wall, cpu = per_test[name]["wall"], per_test[name]["cpu"]
        print(
            f"{name:18} {statistics.median(wall):10.2f} ({min(wall):.2f}-{max(wall):.2f})"
            f"{'':6} {statistics.median(cpu):10.2f} ({min(cpu):.2f}-{max(cpu):.2f})"
        )
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
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
