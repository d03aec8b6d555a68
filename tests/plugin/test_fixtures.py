"""The fixtures a downstream suite uses, run the way users run them: through pytest itself."""

from __future__ import annotations

import json

import pytest

from tests.samples import LAB as SAMPLE_LAB

LAB = json.dumps(SAMPLE_LAB)


def test_fixtures_lists_every_helios_fixture_with_its_one_line_description(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines_random(
        [
            "helios_emulator [[]session scope[]] -- *",
            "    The embedded Helios emulator, started on first use, one per session (or xdist*",
            "helios_account -- *",
            "    A fresh emulator account for this test, with its own keys and webhook secret.",
            "helios_api_key -- *",
            "    An API key of the test account (live: HELIOS_API_KEY).",
            "helios_webhook_secret -- *",
            "    The test account's current webhook secret (live: HELIOS_WEBHOOK_SECRET).",
            "revoked_key -- *",
            "    A key the target refuses as revoked (live: HELIOS_REVOKED_API_KEY).",
            "foreign_key -- *",
            "    A valid key of another account, refused by the target "
            "(live: HELIOS_FOREIGN_API_KEY).",
            "helios_client -- *",
            "    A HeliosClient of the target, ready to call with the test account's key.",
            "helios_async_client -- *",
            "    An AsyncHeliosClient of the target, ready to await with the test account's key.",
            "helios_webhook_receiver -- *",
            "    A local webhookUrl endpoint that captures and verifies the test account's "
            "deliveries.",
            "fake_webhook -- *",
        ]
    )


def test_helios_client_runs_lab_results_end_to_end_through_the_webhook_receiver(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        from pytest_helios import validate

        def test_run(helios_client, helios_webhook_receiver):
            run = helios_client.submit_lab_results(
                lab_results=[{LAB}], webhook_url=helios_webhook_receiver.url
            )
            assert run.status == "accepted"
            final = helios_webhook_receiver.wait_for_final(run.run_id)
            validate("webhook-lab-results-completed", final)
            assert final["result"]["metadata"]["labsReceived"] == 1
            numbers = [p["sequenceNumber"] for p in helios_webhook_receiver.payloads(run.run_id)]
            assert numbers == list(range(1, 9))
            assert helios_webhook_receiver.rejected == []
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_revoked_key_is_refused_as_revoked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_helios import HeliosAuthError

        def test_revoked(helios_client, revoked_key):
            with pytest.raises(HeliosAuthError) as excinfo:
                helios_client.with_key(revoked_key).submit_lab_results(
                    lab_results=[{LAB}], webhook_url="https://example.test/hook"
                )
            assert str(excinfo.value).endswith(
                "(401): Unauthorized: API key has been revoked"
            )
            assert revoked_key not in str(excinfo.value)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_foreign_key_is_refused_as_a_key_of_a_different_account(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_helios import HeliosAuthError

        def test_foreign(helios_client, foreign_key):
            with pytest.raises(HeliosAuthError) as excinfo:
                helios_client.with_key(foreign_key).submit_lab_results(
                    lab_results=[{LAB}], webhook_url="https://example.test/hook"
                )
            assert str(excinfo.value).endswith(
                "(401): Unauthorized: API key belongs to a different account"
            )
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_each_test_gets_its_own_account_key_and_secret(pytester: pytest.Pytester) -> None:
    """Whatever order the two tests run in (pytest-randomly may shuffle them)."""
    pytester.makepyfile(
        """
        import hashlib, json

        def record(key, secret, account):
            assert key.startswith("sk_live_")
            assert secret == account.webhook_secret
            digests = [hashlib.sha256(str(v).encode()).hexdigest() for v in (key, secret)]
            with open("seen.jsonl", "a") as out:
                out.write(json.dumps([*digests, account.id]) + "\\n")

        def test_one(helios_api_key, helios_webhook_secret, helios_account):
            record(helios_api_key, helios_webhook_secret, helios_account)

        def test_two(helios_api_key, helios_webhook_secret, helios_account):
            record(helios_api_key, helios_webhook_secret, helios_account)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    first, second = (
        json.loads(line) for line in (pytester.path / "seen.jsonl").read_text().splitlines()
    )
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_one_emulator_serves_the_whole_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        urls = set()

        def test_one(helios_emulator):
            urls.add(helios_emulator.url)

        def test_two(helios_emulator):
            urls.add(helios_emulator.url)
            assert len(urls) == 1
            assert helios_emulator.url.startswith("http://127.0.0.1:")
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_fake_webhook_signs_with_the_account_secret_the_receiver_verifies(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_fake(fake_webhook, helios_webhook_receiver):
            delivery = fake_webhook("lab-results")
            response = delivery.send(helios_webhook_receiver.url)
            assert response.status_code == 200
            run_id = delivery.payload["runId"]
            assert helios_webhook_receiver.wait_for_final(run_id) == delivery.payload
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_receiver_rejects_a_delivery_signed_with_another_secret(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_forged(fake_webhook, helios_webhook_receiver):
            forged = fake_webhook("light").variant("wrong-secret")
            response = forged.send(helios_webhook_receiver.url)
            assert response.status_code == 400
            (rejected,) = helios_webhook_receiver.rejected
            assert rejected.rejection.startswith("SignatureMismatch: ")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_waiting_for_a_final_webhook_that_never_comes_explains_what_arrived(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_wait(fake_webhook, helios_webhook_receiver):
            update = fake_webhook("status-update", run_id="6f1c8a44-0000-4000-8000-000000000001")
            update.send(helios_webhook_receiver.url)
            helios_webhook_receiver.wait_for_final(
                "6f1c8a44-0000-4000-8000-000000000001", timeout=0.2
            )
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: no final webhook for run "
            "6f1c8a44-0000-4000-8000-000000000001 within 0.2 s",
            "E *received sequenceNumber 1: status 'processing'",
        ]
    )


def test_the_webhook_timeout_option_sets_the_receivers_default_wait(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_wait(helios_webhook_receiver):
            assert helios_webhook_receiver.default_timeout == 2.5
        """
    )
    pytester.runpytest("--helios-webhook-timeout=2.5").assert_outcomes(passed=1)


def test_failed_deliveries_are_retried_by_the_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_retry(helios_client, helios_webhook_receiver, helios_emulator):
            helios_webhook_receiver.fail_next(2, status=503)
            run = helios_client.submit_lab_results(
                lab_results=[{LAB}], webhook_url=helios_webhook_receiver.url
            )
            helios_webhook_receiver.wait_for_final(run.run_id)
            helios_emulator.wait_for_deliveries()
            attempts = helios_emulator.deliveries_for(run.run_id)
            failed = sorted(a.sequence_number for a in attempts if a.status_code == 503)
            retried = sorted(a.sequence_number for a in attempts if a.ok and a.attempt > 1)
            assert len(failed) == 2 and failed == retried
            assert [p["sequenceNumber"] for p in helios_webhook_receiver.payloads(run.run_id)] == (
                list(range(1, 9))
            )
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_async_client_fixture_submits_from_any_event_loop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio

        def test_async(helios_async_client, helios_webhook_receiver):
            async def submit():
                return await helios_async_client.submit_agent(
                    webhook_url=helios_webhook_receiver.url, agent_type="deep",
                    data={"patientInfo": {"age": 45}},
                )
            first = asyncio.run(submit())
            second = asyncio.run(submit())
            assert first.run_id != second.run_id
            final = helios_webhook_receiver.wait_for_final(second.run_id)
            assert final["agent"] == "deep"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_client_options_hook_customises_the_client(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_helios_client_options(config, options):
            options["timeout"] = 3
            options["rate_limit_retries"] = 2
        """
    )
    pytester.makepyfile(
        """
        def test_client(helios_client):
            assert (helios_client.timeout, helios_client.rate_limit_retries) == (3.0, 2)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (
            'options["retries"] = 2',
            "pytest_helios_client_options: unknown option 'retries'; "
            "valid options: clock, max_retry_wait, rate_limit_retries, timeout",
        ),
        (
            'options["timeout"] = "30"',
            "pytest_helios_client_options: timeout = '30'; "
            "it must be a number of seconds greater than 0",
        ),
        (
            'options["rate_limit_retries"] = -1',
            "pytest_helios_client_options: rate_limit_retries = -1; it must be an int, 0 or more",
        ),
        (
            'del options["max_retry_wait"]',
            "pytest_helios_client_options: option 'max_retry_wait' was removed; "
            "it must be a number of seconds, 0 or more",
        ),
    ],
)
def test_a_bad_value_from_the_client_options_hook_names_the_hook(
    pytester: pytest.Pytester, assignment: str, message: str
) -> None:
    pytester.makeconftest(
        f"""
        def pytest_helios_client_options(config, options):
            {assignment}
        """
    )
    pytester.makepyfile("def test_client(helios_client): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([f"E *pytest.UsageError: {message}"])
    result.assert_outcomes(errors=1)


def test_a_failing_test_shows_keys_and_secrets_masked_in_its_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_fails(helios_api_key, revoked_key, foreign_key, helios_webhook_secret,
                       helios_account):
            print("KEYS", helios_api_key, revoked_key, foreign_key, helios_webhook_secret)
            assert helios_api_key == revoked_key
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    printed = next(line for line in out.splitlines() if "KEYS " in line)
    values = printed.split("KEYS ")[1].split()
    assert len(values) == 4 and all(len(v) > 20 for v in values)
    traceback = out[out.index("FAILURES") :]
    assert not [v for v in values if v in traceback]
    result.stdout.fnmatch_lines(
        [
            "helios_api_key = 'sk_live_…*', revoked_key = 'sk_live_…*'",
            "E * AssertionError: assert 'sk_live_…*' == 'sk_live_…*'",
            "E * (pytest-helios shows keys and secrets masked, never their values)",
        ]
    )
    result.stdout.fnmatch_lines(["*, helios_webhook_secret = 'whsec_…*'"])
