"""The helios options: each has an ini twin, the command line wins, bad values fail at start-up."""

from __future__ import annotations

import pytest


@pytest.fixture
def passing_test(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile("def test_nothing(): pass")
    return pytester


def test_help_lists_every_helios_option_in_its_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "Helios API testing (pytest-helios):",
            "  --helios-live*target the real Helios API*",
            "  --helios-base-url=URL*",
            "  --helios-webhook-timeout=SECONDS*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["  helios_live (string):*", "  helios_base_url (string):*", "  helios_webhook_timeout *"]
    )


def test_the_default_target_is_the_emulator_started_on_first_use(
    passing_test: pytest.Pytester,
) -> None:
    result = passing_test.runpytest()
    result.stdout.fnmatch_lines(["helios: *, target=emulator (started on first use)"])


def test_helios_live_targets_the_real_api_in_the_header(passing_test: pytest.Pytester) -> None:
    result = passing_test.runpytest("--helios-live")
    result.stdout.fnmatch_lines(["helios: *, target=live https://api.heliosai.health"])
    result.assert_outcomes(passed=1)


def test_the_ini_twin_of_helios_live_accepts_yes(passing_test: pytest.Pytester) -> None:
    passing_test.makeini("[pytest]\nhelios_live = yes\n")
    result = passing_test.runpytest()
    result.stdout.fnmatch_lines(["helios: *, target=live *"])


def test_the_command_line_wins_over_the_ini_value(passing_test: pytest.Pytester) -> None:
    passing_test.makeini("[pytest]\nhelios_base_url = http://127.0.0.1:1\nhelios_live = true\n")
    result = passing_test.runpytest("--helios-base-url", "https://helios.example.test/")
    result.stdout.fnmatch_lines(["helios: *, target=live https://helios.example.test"])


def test_helios_base_url_defaults_to_the_environment_variable(
    passing_test: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELIOS_BASE_URL", "http://127.0.0.1:8123")
    result = passing_test.runpytest("--helios-live")
    result.stdout.fnmatch_lines(["helios: *, target=live http://127.0.0.1:8123"])


def test_a_bad_ini_boolean_names_the_ini_value_and_lists_the_valid_ones(
    passing_test: pytest.Pytester,
) -> None:
    passing_test.makeini("[pytest]\nhelios_live = maybe\n")
    result = passing_test.runpytest()
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'maybe' is not a valid helios_live. "
            "Valid values: true, yes, on, 1, false, no, off, 0."
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_bad_base_url_names_the_option(passing_test: pytest.Pytester) -> None:
    result = passing_test.runpytest("--helios-base-url", "api.heliosai.health")
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'api.heliosai.health' is not a valid --helios-base-url. "
            "Valid values: an http:// or https:// URL such as https://api.heliosai.health."
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_bad_base_url_in_the_environment_names_the_variable(
    passing_test: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELIOS_BASE_URL", "ftp://x")
    result = passing_test.runpytest()
    result.stderr.fnmatch_lines(
        ["ERROR: 'ftp://x' is not a valid HELIOS_BASE_URL. Valid values: *"]
    )


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf", "nan"])
def test_a_webhook_timeout_that_is_not_a_positive_number_is_refused(
    passing_test: pytest.Pytester, value: str
) -> None:
    result = passing_test.runpytest(f"--helios-webhook-timeout={value}")
    result.stderr.fnmatch_lines(
        [
            f"ERROR: '{value}' is not a valid --helios-webhook-timeout. "
            "Valid values: a number of seconds greater than 0, such as 10 or 2.5."
        ]
    )


def test_a_base_url_with_credentials_is_refused_without_echoing_them(
    passing_test: pytest.Pytester,
) -> None:
    password = "sk_live_" + "x" * 24
    result = passing_test.runpytest(f"--helios-base-url=https://user:{password}@api.example.test")
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'https://***@api.example.test' is not a valid --helios-base-url. "
            "Valid values: a URL without a user or password (the key goes in HELIOS_API_KEY)."
        ]
    )
    assert password not in result.stdout.str() + result.stderr.str()
