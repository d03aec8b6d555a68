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


def test_the_package_exposes_exactly_its_public_names() -> None:
    import pytest_helios

    assert "validate" in pytest_helios.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pytest_helios.nope  # noqa: B018
