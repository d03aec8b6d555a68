"""The pytest fixture's emulator delivers to the hosts ``--helios-webhook-hosts`` (or its ini
twin ``helios_webhook_hosts``) allows, besides loopback; a bad value stops the run at once."""

from __future__ import annotations

import pytest


def test_the_pytest_option_allows_a_host_for_the_sessions_emulator(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from pytest_helios import HeliosValidationError

        def test_allowed(helios_client):
            run = helios_client.submit_lab_results(
                lab_results=[{"name": "Sodium", "value": "140 mEq/L"}],
                webhook_url="https://hooks.example.org/h",
            )
            assert run.run_id

        def test_elsewhere(helios_client):
            try:
                helios_client.submit_lab_results(
                    lab_results=[{"name": "Sodium", "value": "140 mEq/L"}],
                    webhook_url="https://elsewhere.example.net/h",
                )
            except HeliosValidationError as refused:
                assert "--helios-webhook-hosts" in str(refused)
            else:
                raise AssertionError("not refused")
        """
    )
    pytester.makeini("[pytest]\nhelios_webhook_hosts = hooks.example.org\n")
    # the allowed host must not be looked up for real: make the run fail before it delivers
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(autouse=True)
        def no_delivery(request):
            if "helios_client" in request.fixturenames:
                request.getfixturevalue("helios_account").drop_deliveries(10_000)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_bad_pytest_option_names_itself_and_the_valid_values(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--helios-webhook-hosts", "https://hooks.example.org")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'https://hooks.example.org' is not a valid --helios-webhook-hosts. Valid "
            "values: host names or IP addresses without scheme, port or path, separated by "
            "commas (hooks.example.org, 10.0.0.5, *.example.org for its subdomains, * for any)."
        ]
    )
