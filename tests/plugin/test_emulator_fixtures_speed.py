"""helios_clock, the account forgotten after its test, and the in-process transport, as users
meet them: through pytest itself."""

from __future__ import annotations

import json

import pytest

from tests.samples import LAB as SAMPLE_LAB

LAB = json.dumps(SAMPLE_LAB)


def test_the_429_example_waits_three_minutes_on_the_clock_and_none_for_real(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        def pytest_helios_client_options(config, options):
            options["rate_limit_retries"] = 3
        """
    )
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_helios import HeliosRateLimited

        def test_rate_limited(helios_client, helios_account, helios_clock):
            helios_account.exhaust_concurrency("lab-results")
            with pytest.raises(HeliosRateLimited):
                helios_client.submit_lab_results(
                    lab_results=[{LAB}], webhook_url="http://127.0.0.1:9/hook"
                )
            assert helios_clock.slept == [60, 60, 60]

        def test_released_after_a_minute(helios_client, helios_account, helios_clock):
            helios_account.exhaust_concurrency("lab-results")
            helios_clock.call_at(60, helios_account.release_concurrency)
            run = helios_client.submit_lab_results(
                lab_results=[{LAB}], webhook_url="http://127.0.0.1:9/hook"
            )
            assert run.status == "accepted"
            assert helios_clock.slept == [60]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_the_emulator_forgets_a_tests_account_keys_and_runs_when_the_test_ends(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import httpx

        SEEN = {{}}

        def test_first(helios_client, helios_account, helios_api_key, helios_webhook_receiver):
            run = helios_client.submit_lab_results(
                lab_results=[{LAB}], webhook_url=helios_webhook_receiver.url
            )
            helios_webhook_receiver.wait_for_final(run.run_id)
            SEEN.update(account=helios_account.id, run=run.run_id, key=str(helios_api_key))

        def test_second(helios_emulator):
            assert SEEN["account"] not in {{a.id for a in helios_emulator.accounts}}
            helios_emulator.wait_for_deliveries()
            assert SEEN["run"] not in {{r.id for r in helios_emulator.runs}}
            assert helios_emulator.deliveries_for(SEEN["run"]) == []
            answer = httpx.post(helios_emulator.url + "/api/v1/lab-results",
                                headers={{"x-api-key": SEEN["key"]}}, json={{}})
            assert answer.status_code == 401
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_the_in_process_transport_runs_the_documented_round_trip_without_an_emulator_socket(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nhelios_emulator_transport = in-process\n")
    pytester.makepyfile(
        f"""
        from pytest_helios import validate

        def test_round_trip(helios_emulator, helios_client, helios_webhook_receiver):
            assert helios_emulator.url == "http://emulator"
            run = helios_client.submit_lab_results(
                lab_results=[{LAB}], webhook_url=helios_webhook_receiver.url
            )
            validate("webhook-lab-results-completed",
                     helios_webhook_receiver.wait_for_final(run.run_id))

        async def _main(client, receiver):
            run = await client.submit_lab_results(lab_results=[{LAB}], webhook_url=receiver.url)
            return await receiver.wait_for_final_async(run.run_id)

        def test_async_round_trip(helios_async_client, helios_webhook_receiver):
            import anyio

            final = anyio.run(_main, helios_async_client, helios_webhook_receiver)
            assert final["status"] == "completed"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_bad_emulator_transport_names_the_option_and_the_valid_values(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--helios-emulator-transport", "carrier-pigeon")
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'carrier-pigeon' is not a valid --helios-emulator-transport. "
            "Valid values: http, in-process."
        ]
    )
