"""The fixtures work under pytest-xdist: each worker starts its own emulator on first use."""

from __future__ import annotations

import pytest

SUITE = """
import pytest
from pytest_helios import HeliosAuthError, validate

pytestmark = pytest.mark.slow  # a whole install or project run: see .ci/run

LABS = [{"name": "Potassium", "value": "5.9 mmol/L", "flag": "High"}]

@pytest.mark.parametrize("n", range(4))
def test_a_run_completes(helios_client, helios_webhook_receiver, n):
    url = helios_webhook_receiver.url
    run = helios_client.submit_lab_results(lab_results=LABS, webhook_url=url)
    validate("webhook", helios_webhook_receiver.wait_for_final(run.run_id))

def test_revoked(helios_client, revoked_key):
    with pytest.raises(HeliosAuthError):
        helios_client.with_key(revoked_key).submit_lab_results(
            lab_results=LABS, webhook_url="https://example.test/h")

def test_emulator_is_per_worker(helios_emulator, worker_id):
    assert worker_id in ("gw0", "gw1")
    assert helios_emulator.url.startswith("http://127.0.0.1:")
"""


def test_a_suite_using_the_fixtures_passes_with_two_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["created: 2/2 workers"])
    result.assert_outcomes(passed=6)
