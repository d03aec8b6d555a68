"""The pytest_helios_* hooks, implemented in a conftest.py as users write them."""

from __future__ import annotations

import pytest


def test_the_webhook_payload_hook_customises_every_fake_delivery(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        def pytest_helios_webhook_payload(config, kind, payload):
            if kind == "lab-results":
                payload["result"]["clinicianResponse"] = "Reviewed by the on-call nephrologist."
            payload["x-tenant"] = "clinic-42"
        """
    )
    pytester.makepyfile(
        """
        import json

        def test_deliveries(fake_webhook):
            lab = json.loads(fake_webhook("lab-results").body)
            assert lab["result"]["clinicianResponse"] == "Reviewed by the on-call nephrologist."
            update = json.loads(fake_webhook("status-update").body)
            assert update["x-tenant"] == lab["x-tenant"] == "clinic-42"

        def test_explicit_fields_win_over_the_hook(fake_webhook):
            delivery = fake_webhook("light", **{"x-tenant": "other"})
            assert json.loads(delivery.body)["x-tenant"] == "other"

        def test_whole_runs_go_through_the_hook(fake_webhook):
            run = fake_webhook.run("deep")
            assert all(json.loads(d.body)["x-tenant"] == "clinic-42" for d in run)
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_a_webhook_payload_hook_that_breaks_the_contract_names_the_hook(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        def pytest_helios_webhook_payload(config, kind, payload):
            payload["sequenceNumber"] = "seven"
        """
    )
    pytester.makepyfile("def test_it(fake_webhook): fake_webhook('light')")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *pytest.UsageError: pytest_helios_webhook_payload left an invalid 'light' "
            "payload: schema 'webhook' violated at $.sequenceNumber: keyword 'type'*"
        ]
    )
