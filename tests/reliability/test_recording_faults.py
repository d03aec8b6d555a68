"""Faults while recording: no corrupted or half-written cassette ever remains, and the user is
told what happened.

- a recording pytest process killed (SIGKILL) in the middle of writing its cassette, and a
  writer process killed at random moments, HELIOS_KILLS times;
- two xdist workers recording the same cassette at once;
- a full disk, simulated two ways in a real pytest subprocess: a file-size limit
  (RLIMIT_FSIZE, so the kernel fails the write with EFBIG) and ENOSPC from ``os.replace``
  (monkeypatched: a real full disk cannot be made here without root).

Recording runs go against ``FakeHelios`` (a real HTTP server on
loopback, tests/cassettes/helpers.py).
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_helios.cassettes.lint import lint
from pytest_helios.cassettes.persister import STALE_AFTER, read_document
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

#: a recording test whose cassette is about 1 MB (a long padding field in the request, echoed back)
BIG_TEST = """
import httpx, pytest

@pytest.mark.helios_cassette
def test_big():
    payload = {**LAB_REQUEST, "padding": "%s"}
    response = httpx.post(URL + "/echo", json=payload)
    assert response.status_code == 200
"""


def big_test(marker: str = "x") -> str:
    return BIG_TEST % (marker * 500_000)


CASSETTE = Path("cassettes/test_api/test_big.yaml")


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]


def leftovers(root: Path) -> list[Path]:
    return sorted(p for p in (root / "cassettes").rglob(".*.tmp")) if root.exists() else []


def check_cassettes_whole(root: Path) -> int:
    """Every cassette file under ``root/cassettes`` parses completely; returns how many."""
    files = sorted((root / "cassettes").rglob("*.yaml"))
    for path in files:
        read_document(path)  # raises CassetteFormatError on a half-written file
    return len(files)


def run_pytest(
    pytester: pytest.Pytester, *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh interpreter in the project (so a kill or a limit hits only it)."""
    return subprocess.run(
        pytest_command(*args),
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec,
    )


def record(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pytest(pytester, "--helios-record-mode=all", *args)


@pytest.mark.parametrize("earlier", [False, True], ids=["first-recording", "re-recording"])
def test_a_recording_killed_mid_write_leaves_the_earlier_cassette_or_none(
    pytester: pytest.Pytester, server: FakeHelios, earlier: bool
) -> None:
    write_project(pytester, server.url, big_test("a"))
    before = None
    if earlier:
        assert record(pytester).returncode == 0
        before = (pytester.path / CASSETTE).read_bytes()
        write_project(pytester, server.url, big_test("b"))
    # pause the writer after the temporary file is written and before it is renamed, then kill
    ready = pytester.path / "writing"
    pytester.makepyfile(
        conftest_pause=f"""
        import os, time
        real_fsync = os.fsync

        def fsync(fd):
            real_fsync(fd)
            open({str(ready)!r}, "w").close()
            time.sleep(120)

        os.fsync = fsync
        """
    )
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + "\nimport conftest_pause  # noqa\n")
    process = subprocess.Popen(
        pytest_command("--helios-record-mode=all"),
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert process.poll() is None, "the recording run ended before writing"
            assert time.monotonic() < deadline, "the recording run never reached the write"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    TALLY["recording faults", "pytest runs killed mid-write (SIGKILL)"] += 1

    cassette = pytester.path / CASSETTE
    if before is None:
        assert not cassette.exists()
    else:
        assert cassette.read_bytes() == before  # the earlier recording, byte for byte
    check_cassettes_whole(pytester.path)
    # the only trace is the hidden temporary file, which nothing reads as a cassette
    assert [p.name.endswith(".tmp") for p in leftovers(pytester.path)] == [True]
    assert lint([pytester.path / "cassettes"])[1] == []
    conftest.write_text(conftest.read_text().replace("\nimport conftest_pause  # noqa\n", ""))
    replay = run_pytest(pytester, "--helios-record-mode=none")
    if before is None:
        assert replay.returncode == 1
        assert "--helios-record-mode=once" in replay.stdout, replay.stdout[-2000:]
    else:
        # the earlier cassette still replays; its body differs from the new test's request,
        # so the user sees a miss that names the re-record command, not a corrupt file
        assert "cannot use cassette" not in replay.stdout, replay.stdout[-2000:]
    # once it is old enough, the next recording of that cassette removes what the kill left
    [killed] = leftovers(pytester.path)
    then = time.time() - STALE_AFTER - 1
    os.utime(killed, (then, then))
    assert record(pytester).returncode == 0
    assert leftovers(pytester.path) == []
    check_cassettes_whole(pytester.path)


WRITER = """
import os, random, sys
from pathlib import Path
from pytest_helios.cassettes.persister import dump, provenance, write_atomically

root = Path(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
print("ready", flush=True)
while True:
    size = rng.choice([10, 1_000, 100_000, 2_000_000])
    interactions = [{
        "request": {"method": "POST", "uri": "https://api.heliosai.health/api/v1/agent",
                    "headers": {}, "body": "n" * size},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                     "body": {"string": "{}"}},
    }]
    name = f"cassette_{rng.randrange(3)}.yaml"
    write_atomically(root / name, dump({"helios": provenance("emulator"),
                                         "interactions": interactions}))
"""


def test_a_writer_killed_at_random_moments_never_leaves_a_half_written_cassette(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cassettes" / "test_api"
    rng = random.Random(8)
    kills = scale().kills * 5
    for index in range(kills):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(index)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        check_cassettes_whole(tmp_path)
    TALLY["recording faults", "cassette writers killed at random moments (SIGKILL)"] += kills
    assert check_cassettes_whole(tmp_path) >= 1


SHARED = """
import httpx, pytest

@pytest.mark.parametrize("n", range(8))
@pytest.mark.helios_cassette(name="shared")
def test_shared(n):
    payload = {**LAB_REQUEST, "padding": str(n) * 100_000}
    response = httpx.post(URL + "/echo", json=payload)
    assert response.status_code == 200
"""


def test_two_xdist_workers_recording_the_same_cassette_leave_one_whole_recording(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, SHARED)
    result = record(pytester, "-n", "2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "8 passed" in result.stdout
    document = read_document(pytester.path / "cassettes/test_api/shared.yaml")
    TALLY["recording faults", "cassette saves racing between 2 xdist workers"] += 8
    # whole recordings only: each request and its echo carry one test's full padding
    interactions = document["interactions"]
    assert 1 <= len(interactions) <= 8
    for interaction in interactions:
        request = interaction["request"]["body"]
        response = interaction["response"]["body"]["string"]
        digit = request.split('"padding": "')[1][0]
        assert request.count(digit * 1000) == 100 and response.count(digit * 1000) == 100
    assert leftovers(pytester.path) == []
    assert lint([pytester.path / "cassettes"])[1] == []


def _no_space_conftest() -> str:
    return textwrap.dedent(
        """
        import errno, os
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if str(dst).endswith(".yaml"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
        """
    )


def _file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


@pytest.mark.parametrize("fault", ["file-size-limit", "no-space-left"])
@pytest.mark.parametrize("earlier", [False, True], ids=["first-recording", "re-recording"])
def test_a_failed_write_fails_the_test_says_why_and_leaves_the_earlier_cassette_or_none(
    pytester: pytest.Pytester, server: FakeHelios, fault: str, earlier: bool
) -> None:
    write_project(pytester, server.url, big_test("a"))
    cassette = pytester.path / CASSETTE
    before = None
    if earlier:
        assert record(pytester).returncode == 0
        before = cassette.read_bytes()
        write_project(pytester, server.url, big_test("b"))
    if fault == "no-space-left":
        pytester.makepyfile(conftest_fault=_no_space_conftest())
        conftest = pytester.path / "conftest.py"
        conftest.write_text(conftest.read_text() + "\nimport conftest_fault  # noqa\n")
    limit = _file_size_limit if fault == "file-size-limit" else None
    result = run_pytest(pytester, "--helios-record-mode=all", preexec=limit)
    TALLY["recording faults", "full-disk write errors while saving"] += 1
    output = result.stdout
    reason = "File too large" if fault == "file-size-limit" else "No space left on device"
    assert result.returncode == 1, output[-3000:]
    assert (
        f"helios: could not write cassette cassettes/test_api/test_big.yaml: {reason}. "
        "Nothing was written: the earlier cassette, if any, is unchanged." in output
    ), output[-3000:]
    assert "1 failed" in output and "error" not in output.splitlines()[-1], output[-1500:]
    if before is None:
        assert not cassette.exists()
    else:
        assert cassette.read_bytes() == before
    assert leftovers(pytester.path) == []
    check_cassettes_whole(pytester.path)
