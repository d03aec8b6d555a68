"""A cassette that cannot be written (a full disk, a file-size limit) fails the test with one
clear line, and the earlier cassette stays as it was. (The same faults in a real subprocess,
with a real file-size limit and SIGKILL mid-write, are in tests/reliability/.)"""

from __future__ import annotations

import pytest

from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

RECORDING = """
import errno, os, httpx, pytest

@pytest.fixture
def full_disk(monkeypatch):
    def replace(src, dst, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # os.replace is the atomic write's last step: a full disk cannot be made here without root
    monkeypatch.setattr(os, "replace", replace)

@pytest.mark.helios_cassette
def test_submit(full_disk):
    response = httpx.post(URL + "/api/v1/lab-results", json=LAB_REQUEST,
                          headers={"x-api-key": os.environ["HELIOS_API_KEY"]})
    assert response.status_code == 200
"""


def test_a_cassette_write_that_fails_fails_the_test_once_and_says_nothing_was_written(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, RECORDING)

    result = pytester.runpytest("--helios-record-mode=once")

    result.assert_outcomes(failed=1)  # the call fails; the teardown does not try again
    result.stdout.fnmatch_lines(
        [
            "*helios: could not write cassette cassettes/test_api/test_submit.yaml: "
            "No space left on device. Nothing was written: the earlier cassette, if any, "
            "is unchanged.",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    written = [p for p in pytester.path.joinpath("cassettes").rglob("*") if p.is_file()]
    assert written == []  # neither a cassette nor a temporary file
