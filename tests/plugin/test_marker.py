"""The helios marker: per-test target and webhook timeout, keyword arguments only; and the one
policy of both helios markers for a bad one."""

from __future__ import annotations

import pytest


def test_markers_lists_the_helios_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.helios(*, target=None, webhook_timeout=None): run the test only *"]
    )


def test_a_test_marked_for_the_emulator_is_skipped_under_helios_live(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.helios(target="emulator")
        def test_provider_state(): pass

        def test_anywhere(): pass
        """
    )
    result = pytester.runpytest("--helios-live", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] *: marked helios(target='emulator') and the target is live"]
    )


def test_a_test_marked_for_live_is_skipped_on_the_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.helios(target="live")

        def test_nightly(): pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] *: marked helios(target='live') and the target is emulator"]
    )


def test_the_closest_marker_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.helios(target="live")

        @pytest.mark.helios(target="emulator")
        def test_here(): pass
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_webhook_timeout_in_the_marker_overrides_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.helios(webhook_timeout=0.5)
        def test_quick(helios_webhook_receiver):
            assert helios_webhook_receiver.default_timeout == 0.5
        """
    )
    pytester.runpytest("--helios-webhook-timeout=30").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'helios(targt="live")',
            "test_bad.py::test_it: @pytest.mark.helios got an unknown argument 'targt'; "
            "valid arguments: target, webhook_timeout",
        ),
        (
            'helios("live")',
            "test_bad.py::test_it: @pytest.mark.helios takes keyword arguments only, "
            "got positional ('live',); valid arguments: target, webhook_timeout",
        ),
        (
            'helios(target="staging")',
            "test_bad.py::test_it: 'staging' is not a valid target of @pytest.mark.helios. "
            "Valid values: emulator, live.",
        ),
        (
            "helios(webhook_timeout=[1])",
            "test_bad.py::test_it: [[]1[]] is not a valid webhook_timeout of @pytest.mark.helios. "
            "Valid values: a number of seconds greater than 0, such as 10 or 2.5.",
        ),
        (
            "helios(webhook_timeout=True)",
            "test_bad.py::test_it: True is not a valid webhook_timeout of @pytest.mark.helios. "
            "Valid values: a number of seconds greater than 0, such as 10 or 2.5.",
        ),
        (
            "helios(webhook_timeout=0)",
            "test_bad.py::test_it: 0 is not a valid webhook_timeout of @pytest.mark.helios. "
            "Valid values: a number of seconds greater than 0, such as 10 or 2.5.",
        ),
    ],
)
def test_a_bad_marker_fails_the_test_naming_the_problem(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.{marker}
        def test_it(): pass

        def test_unmarked(): pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines([f"E *pytest.UsageError: {message}"])
    result.stdout.fnmatch_lines(
        ["*_ ERROR at setup of test_it _*", "", f"E   pytest.UsageError: {message}"],
        consecutive=True,
    )


def test_both_markers_follow_one_policy_a_bad_one_errors_only_its_own_test(
    pytester: pytest.Pytester,
) -> None:
    """A bad ``helios`` or ``helios_cassette`` marker errors its test at set-up with one line
    naming the marker, the problem and the valid values; every other test still runs."""
    pytester.makepyfile(
        test_markers="""
        import pytest

        @pytest.mark.helios(target="staging")
        def test_bad_target(): pass

        @pytest.mark.helios_cassette(record_mode="sometimes")
        def test_bad_record_mode(): pass

        @pytest.mark.helios(target="emulator")
        def test_good(): pass

        def test_unmarked(): pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2, passed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_bad_target _*",
            "",
            "E   pytest.UsageError: test_markers.py::test_bad_target: 'staging' is not a valid "
            "target of @pytest.mark.helios. Valid values: emulator, live.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_bad_record_mode _*",
            "",
            "E   pytest.UsageError: test_markers.py::test_bad_record_mode: 'sometimes' is not a "
            "valid record_mode of @pytest.mark.helios_cassette. "
            "Valid values: none, once, new_episodes, all, rewrite.",
        ],
        consecutive=True,
    )
    assert "_marker.py" not in result.stdout.str()  # the plugin's frames are not shown
