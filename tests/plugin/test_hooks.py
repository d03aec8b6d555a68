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


def test_the_emulator_result_hook_customises_what_runs_deliver(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_helios_emulator_result(config, agent, request, result):
            if agent == "lab-results":
                names = [lab["name"] for lab in request["labResults"]]
                result["clinicianResponse"] = "Reviewed: " + ", ".join(names)
        """
    )
    pytester.makepyfile(
        """
        def test_run(helios_client, helios_webhook_receiver):
            run = helios_client.submit_lab_results(
                lab_results=[{"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"}],
                webhook_url=helios_webhook_receiver.url,
            )
            final = helios_webhook_receiver.wait_for_final(run.run_id)
            assert final["status"] == "completed"
            assert final["result"]["clinicianResponse"] == "Reviewed: Ferritin"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'result["labResults"] = "none"',
            "the emulator's result hook left an invalid payload: schema 'webhook' violated at "
            "$.result.labResults: keyword 'type'*",
        ),
        ('raise KeyError("patientResponse")', "the emulator's result hook raised KeyError: *"),
    ],
)
def test_a_failing_emulator_result_hook_ends_the_run_with_an_error_webhook_saying_why(
    pytester: pytest.Pytester, body: str, message: str
) -> None:
    pytester.makeconftest(
        f"""
        def pytest_helios_emulator_result(config, agent, request, result):
            {body}
        """
    )
    pytester.makepyfile(
        """
        def test_run(helios_client, helios_webhook_receiver):
            run = helios_client.submit_lab_results(
                lab_results=[{"name": "Ferritin", "value": "8 ng/mL"}],
                webhook_url=helios_webhook_receiver.url,
            )
            final = helios_webhook_receiver.wait_for_final(run.run_id)
            assert final["error"]["code"] == "result_hook_failed"
            print("MESSAGE:", final["error"]["message"])
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*MESSAGE: {message}"])
