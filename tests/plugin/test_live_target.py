"""--helios-live: the fixtures target the real API with keys from the environment.

The real API is never called from these tests: an emulator started here stands in for it at
--helios-base-url, holding the account whose keys the environment variables carry.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_helios import HeliosEmulator

LIVE_VARIABLES = (
    "HELIOS_API_KEY",
    "HELIOS_WEBHOOK_SECRET",
    "HELIOS_REVOKED_API_KEY",
    "HELIOS_FOREIGN_API_KEY",
    "HELIOS_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in LIVE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator account playing the live API; its keys and secret exported as users would."""
    with HeliosEmulator() as emulator:
        account = emulator.create_account("live stand-in")
        revoked = account.create_key("old")
        account.revoke_key(revoked)
        monkeypatch.setenv("HELIOS_API_KEY", account.create_key("ci").value)
        monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", account.webhook_secret)
        monkeypatch.setenv("HELIOS_REVOKED_API_KEY", revoked.value)
        other = emulator.create_account("someone else")
        monkeypatch.setenv("HELIOS_FOREIGN_API_KEY", other.create_key("theirs").value)
        yield account.base_url


@pytest.mark.parametrize(
    ("fixture", "variable", "needed_for"),
    [
        ("helios_client", "HELIOS_API_KEY", "the API key of the account under test"),
        ("helios_api_key", "HELIOS_API_KEY", "the API key of the account under test"),
        ("helios_webhook_secret", "HELIOS_WEBHOOK_SECRET", "the account's webhook secret"),
        ("fake_webhook", "HELIOS_WEBHOOK_SECRET", "the account's webhook secret"),
        ("helios_webhook_receiver", "HELIOS_WEBHOOK_SECRET", "the account's webhook secret"),
        ("revoked_key", "HELIOS_REVOKED_API_KEY", "a revoked key of the account"),
        ("foreign_key", "HELIOS_FOREIGN_API_KEY", "a valid key of a different account"),
    ],
)
def test_a_live_fixture_skips_naming_the_variable_it_needs(
    pytester: pytest.Pytester, fixture: str, variable: str, needed_for: str
) -> None:
    pytester.makepyfile(f"def test_it({fixture}): pass")
    result = pytester.runpytest("--helios-live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [f"SKIPPED [[]1[]] *: {variable} is not set: --helios-live needs it for {needed_for}"]
    )


def test_the_emulator_fixtures_skip_when_the_target_is_live(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(helios_account): pass")
    result = pytester.runpytest("--helios-live", "-rs")
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] *: helios_emulator needs the embedded emulator, "
            "and the target is --helios-live"
        ]
    )


def test_live_mode_runs_the_same_tests_against_the_api_at_the_base_url(
    pytester: pytest.Pytester, stand_in: str
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_helios import HeliosAuthError

        LABS = [{"name": "Sodium", "value": "140 mEq/L", "flag": "Normal"}]

        def test_accepted(helios_client, helios_webhook_receiver):
            run = helios_client.submit_lab_results(
                lab_results=LABS, webhook_url=helios_webhook_receiver.url
            )
            final = helios_webhook_receiver.wait_for_final(run.run_id)
            assert final["status"] == "completed"

        def test_revoked(helios_client, revoked_key):
            with pytest.raises(HeliosAuthError, match="API key has been revoked"):
                helios_client.with_key(revoked_key).submit_lab_results(
                    lab_results=LABS, webhook_url="https://example.test/h"
                )

        def test_foreign(helios_client, foreign_key):
            with pytest.raises(HeliosAuthError, match="belongs to a different account"):
                helios_client.with_key(foreign_key).submit_lab_results(
                    lab_results=LABS, webhook_url="https://example.test/h"
                )
        """
    )
    result = pytester.runpytest("--helios-live", f"--helios-base-url={stand_in}")
    result.stdout.fnmatch_lines([f"helios: *, target=live {stand_in}"])
    result.assert_outcomes(passed=3)


def test_the_live_header_never_shows_the_key(pytester: pytest.Pytester, stand_in: str) -> None:
    import os

    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--helios-live", f"--helios-base-url={stand_in}")
    assert os.environ["HELIOS_API_KEY"] not in result.stdout.str()
