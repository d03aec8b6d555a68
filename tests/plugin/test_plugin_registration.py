"""The plugin installs as the pytest11 entry point ``helios`` and can be switched off."""

from __future__ import annotations

import pytest


def test_the_report_header_names_the_version(pytester: pytest.Pytester) -> None:
    import pytest_helios

    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([f"helios: {pytest_helios.__version__}, target=*"])
    result.assert_outcomes(passed=1)


def test_the_plugin_is_disabled_with_p_no_helios(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("-p", "no:helios")
    assert "helios:" not in result.stdout.str()
    result.assert_outcomes(passed=1)


def test_the_core_plugin_registers_the_cassettes_and_contract_plugins(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--trace-config")
    result.stdout.fnmatch_lines_random(
        [
            "    helios *: *pytest_helios?plugin.py",
            "    pytest_helios.cassettes.plugin: *pytest_helios?cassettes?plugin.py",
            "    pytest_helios.contract.plugin: *pytest_helios?contract?plugin.py",
        ]
    )
    result.assert_outcomes(passed=1)


def test_p_no_helios_turns_off_the_feature_plugins_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--trace-config", "-p", "no:helios")
    registered = [line for line in result.stdout.lines if "registered" in line]
    assert registered, result.stdout.str()
    assert not [line for line in registered if "pytest_helios" in line]
    assert "--helios-" not in pytester.runpytest("-p", "no:helios", "--help").stdout.str()
    result.assert_outcomes(passed=1)


def test_the_package_exposes_exactly_its_public_names() -> None:
    import pytest_helios

    assert "validate" in pytest_helios.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pytest_helios.nope  # noqa: B018
