"""Recording and replay: one cassette per test, recorded against a real server once,
replayed with the server gone, for httpx (sync and async) and requests."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pytest_helios import HeliosEmulator
from pytest_helios.cassettes import persister, recorder
from pytest_helios.cassettes.persister import write_atomically
from tests.cassettes.helpers import (
    FakeHelios,
    new_api_key,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

CLIENTS = {
    "httpx": """
        import httpx

        def submit(path, payload, key):
            with httpx.Client() as client:
                response = client.post(URL + path, json=payload, headers={"x-api-key": key})
            return response.status_code, response.json()
    """,
    "httpx-async": """
        import asyncio
        import httpx

        def submit(path, payload, key):
            async def go():
                async with httpx.AsyncClient() as client:
                    return await client.post(URL + path, json=payload, headers={"x-api-key": key})
            response = asyncio.run(go())
            return response.status_code, response.json()
    """,
    "requests": """
        import requests

        def submit(path, payload, key):
            with requests.Session() as session:
                response = session.post(URL + path, json=payload, headers={"x-api-key": key})
            return response.status_code, response.json()
    """,
}

SUBMIT_TEST = """
    import os
    import pytest

    @pytest.mark.helios_cassette
    def test_submit_labs():
        status, body = submit("/api/v1/lab-results", LAB_REQUEST, os.environ["HELIOS_API_KEY"])
        assert status == 200
        assert body["status"] == "accepted"
"""


def source(*parts: str) -> str:
    return "".join(textwrap.dedent(part) for part in parts)


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeliosEmulator]:
    with HeliosEmulator() as emu:
        monkeypatch.setenv("HELIOS_API_KEY", emu.create_account("acme").create_key("ci").value)
        yield emu


NETWORK_CLOSED = """

import socket


def refuse(*args, **kwargs):
    raise OSError("network closed for this test")


@pytest.fixture(autouse=True)
def network_closed(monkeypatch):
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
"""

NETWORK_IS_CLOSED = """
    import socket
    import pytest

    def test_the_network_is_closed():
        with pytest.raises(OSError, match="network closed"):
            socket.create_connection(("127.0.0.1", 9))
"""


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_test_recorded_against_the_emulator_replays_with_the_emulator_gone_and_no_network(
    pytester: pytest.Pytester, emulator: HeliosEmulator, client: str
) -> None:
    write_project(pytester, emulator.url, source(CLIENTS[client], SUBMIT_TEST))
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    assert len(emulator.runs) == 1
    emulator.stop()
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + NETWORK_CLOSED)
    pytester.makepyfile(test_network=textwrap.dedent(NETWORK_IS_CLOSED))

    result = pytester.runpytest()

    result.assert_outcomes(passed=2)


def test_the_cassette_directory_can_be_moved(pytester: pytest.Pytester, server: FakeHelios) -> None:
    write_project(pytester, server.url, source(CLIENTS["httpx"], SUBMIT_TEST))

    pytester.runpytest(
        "--helios-record-mode=once", "--helios-cassette-dir=recorded"
    ).assert_outcomes(passed=1)

    assert (pytester.path / "recorded" / "test_api" / "test_submit_labs.yaml").is_file()
    assert not (pytester.path / "cassettes").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "c.yaml"
    write_atomically(target, b"old")

    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]

    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def ended_process_id() -> int:
    """The id of a process that has ended (and, this soon, not been reused)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(directory: Path, name: str, pid: int, *, age: float) -> Path:
    """A temporary file as a writer killed mid-write leaves it, last written ``age`` s ago."""
    path = directory / f".{name}.{pid}.k1ll3d_0.tmp"  # as tempfile names it
    path.write_bytes(b"half a cassette")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_next_write_removes_what_a_killed_writer_of_that_cassette_left(
    tmp_path: Path,
) -> None:
    target = tmp_path / "c.yaml"
    dead = ended_process_id()
    killed = leftover(tmp_path, "c.yaml", dead, age=persister.STALE_AFTER + 1)
    others = [
        leftover(tmp_path, name, dead, age=persister.STALE_AFTER + 1)
        for name in ("d.yaml", "c.yaml.999999.yaml", "c.webhooks.yaml")
    ]

    write_atomically(target, b"new")

    assert target.read_bytes() == b"new"
    assert not killed.exists()
    assert all(other.exists() for other in others)  # each removed by a write of its own file


def test_a_temporary_file_of_a_live_or_recent_writer_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "c.yaml"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as live:
        try:
            running = leftover(tmp_path, "c.yaml", live.pid, age=persister.STALE_AFTER + 1)
            recent = leftover(tmp_path, "c.yaml", ended_process_id(), age=5)
            write_atomically(target, b"new")
            assert running.exists()  # its writer may still replace it
            assert recent.exists()  # younger than any write could take: maybe another host's
        finally:
            live.kill()


def test_same_named_modules_in_two_folders_fail_naming_both_rather_than_share_cassettes(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, source(CLIENTS["httpx"], SUBMIT_TEST))
    code = (pytester.path / "test_api.py").read_text()
    (pytester.path / "test_api.py").unlink()
    for folder in ("unit", "e2e"):
        pytester.mkpydir(folder).joinpath("test_api.py").write_text(code)
    named = code.replace("@pytest.mark.helios_cassette\n", "")
    named += "\n@pytest.mark.helios_cassette(name='own')\ndef test_own():\n    pass\n"
    pytester.mkpydir("other").joinpath("test_api.py").write_text(named)

    result = pytester.runpytest("--helios-record-mode=once")

    # other/test_api.py: one test without a cassette, one with a name of its own: no clash
    result.assert_outcomes(errors=2, passed=2)
    result.stdout.fnmatch_lines(
        [
            "helios: modules e2e/test_api.py, unit/test_api.py have the same "
            "name, so their tests test_submit_labs would share one cassette, "
            "test_api/test_submit_labs.yaml. Give each its own: @pytest.mark.helios_cassette("
            'name="...") or rename a module.'
        ]
    )
    assert not (pytester.path / "cassettes").exists()


def test_the_cassette_is_stored_per_module_and_test_under_the_canonical_host(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(
        pytester,
        server.url,
        source(
            CLIENTS["httpx"],
            SUBMIT_TEST,
            """
    class TestGroup:
        @pytest.mark.helios_cassette
        @pytest.mark.parametrize("n", [1])
        def test_in_class(self, n):
            key = os.environ["HELIOS_API_KEY"]
            assert submit("/api/v1/lab-results", LAB_REQUEST, key)[0] == 200
    """,
        ),
    )
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=2)

    cassette = pytester.path / "cassettes" / "test_api" / "test_submit_labs.yaml"
    document = yaml.safe_load(cassette.read_text())
    request = document["interactions"][0]["request"]
    assert request["uri"] == "https://api.heliosai.health/api/v1/lab-results"
    assert '"webhookUrl": "https://webhook.invalid/helios"' in request["body"]
    assert (pytester.path / "cassettes/test_api/TestGroup.test_in_class[1].yaml").is_file()


def test_a_cassette_recorded_against_one_server_replays_against_another_address(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, source(CLIENTS["requests"], SUBMIT_TEST))
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    server.close()

    with FakeHelios(server.api_key) as elsewhere:
        write_project(pytester, elsewhere.url, source(CLIENTS["requests"], SUBMIT_TEST))
        result = pytester.runpytest()
        assert elsewhere.hits == []

    result.assert_outcomes(passed=1)


def test_json_bodies_are_matched_whatever_their_key_order(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = """
        import json, os, httpx, pytest

        @pytest.mark.helios_cassette
        def test_submit(request):
            recording = request.config.getoption("helios_record_mode") == "once"
            payload = LAB_REQUEST if recording else dict(reversed(list(LAB_REQUEST.items())))
            body = json.dumps(payload, indent=None if recording else 4)
            with httpx.Client() as client:
                response = client.post(
                    URL + "/api/v1/lab-results",
                    content=body,
                    headers={"x-api-key": os.environ["HELIOS_API_KEY"],
                             "content-type": "application/json"},
                )
            assert response.status_code == 200
    """
    write_project(pytester, server.url, tests)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    server.close()

    pytester.runpytest().assert_outcomes(passed=1)


def test_a_failing_test_leaves_no_cassette(pytester: pytest.Pytester, server: FakeHelios) -> None:
    write_project(
        pytester,
        server.url,
        source(
            CLIENTS["httpx"],
            """
    import os, pytest

    @pytest.mark.helios_cassette
    def test_fails_after_calling():
        submit("/api/v1/lab-results", LAB_REQUEST, os.environ["HELIOS_API_KEY"])
        assert False, "the test itself fails"
    """,
        ),
    )

    result = pytester.runpytest("--helios-record-mode=once")

    result.assert_outcomes(failed=1)
    assert server.hits
    assert not (pytester.path / "cassettes").exists()


def test_a_failing_re_recording_keeps_the_old_cassette(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, server.url, source(CLIENTS["httpx"], SUBMIT_TEST))
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_api" / "test_submit_labs.yaml"
    before = cassette.read_bytes()
    monkeypatch.setenv("HELIOS_API_KEY", new_api_key())  # the server now answers 401

    result = pytester.runpytest("--helios-record-mode=rewrite")

    result.assert_outcomes(failed=1)
    assert cassette.read_bytes() == before


def test_cassettes_are_readable_with_volatile_headers_dropped_and_bodies_decompressed(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = """
        import os, httpx, pytest

        @pytest.mark.helios_cassette
        def test_echo():
            with httpx.Client(headers={"accept-encoding": "gzip"}) as client:
                response = client.post(URL + "/echo", json={"b": 1, "a": [1, 2]})
            assert response.json()["body"] == {"b": 1, "a": [1, 2]}
    """
    write_project(pytester, server.url, tests)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    cassette = pytester.path / "cassettes" / "test_api" / "test_echo.yaml"
    text = cassette.read_text()
    response = yaml.safe_load(text)["interactions"][0]["response"]
    assert set(response["headers"]) == {"content-type", "set-cookie"}
    assert response["body"]["string"].startswith('{\n  "body": {\n    "a": [\n')
    assert [p.name for p in cassette.parent.iterdir()] == ["test_echo.yaml"]
    server.close()
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_helios_cassette_fixture_works_without_the_marker(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = source(CLIENTS["httpx"], SUBMIT_TEST).replace(
        "@pytest.mark.helios_cassette\ndef test_submit_labs():",
        "def test_submit_labs(helios_cassette):",
    )
    assert "(helios_cassette)" in tests
    write_project(pytester, server.url, tests)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    assert (pytester.path / "cassettes" / "test_api" / "test_submit_labs.yaml").is_file()


def test_a_suite_that_uses_no_cassette_never_imports_vcrpy_nor_writes_a_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_plain():
            assert not [m for m in sys.modules if m == "vcr" or m.startswith("vcr.")]
            assert "pytest_helios.cassettes.recorder" not in sys.modules
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:recording")

    result.assert_outcomes(passed=1)
    assert not (pytester.path / "cassettes").exists()


def test_tests_using_the_helios_fixtures_record_and_replay_against_the_session_emulator(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_api="""
        import pytest

        @pytest.mark.helios_cassette
        def test_submit(helios_client, helios_emulator, helios_cassette):
            run = helios_client.submit_lab_results(
                lab_results=[{"name": "eGFR", "value": "38 mL/min/1.73m2", "flag": "Low"}],
                webhook_url="http://127.0.0.1:9/hook",
            )
            assert run.status == "accepted"
            assert len(helios_emulator.runs) == (1 if helios_cassette.recording else 0)
        """
    )
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_api" / "test_submit.yaml"
    request = yaml.safe_load(cassette.read_text())["interactions"][0]["request"]
    assert request["uri"] == "https://api.heliosai.health/api/v1/lab-results"
    assert request["headers"]["x-api-key"] == ["[REDACTED]"]


def test_an_expected_failure_leaves_no_cassette_either(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    tests = source(
        CLIENTS["httpx"],
        """
    import os, pytest

    @pytest.mark.xfail(reason="the feature is not there yet", strict=True)
    @pytest.mark.helios_cassette
    def test_not_yet():
        submit("/api/v1/lab-results", LAB_REQUEST, os.environ["HELIOS_API_KEY"])
        assert False
    """,
    )
    write_project(pytester, server.url, tests)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(xfailed=1)

    assert server.hits
    assert not (pytester.path / "cassettes").exists()


@pytest.fixture
def optional_libraries(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """vcrpy's optional libraries replaced by one that is absent and one that is installed."""
    absent, present = "helios_test_library_that_is_not_installed", "json"
    monkeypatch.setattr(recorder, "_VCR_OPTIONAL_LIBRARIES", (absent, present))
    monkeypatch.setattr(recorder, "_absent", {})
    return absent, present


def test_a_library_that_is_not_installed_fails_to_import_at_once_while_a_cassette_is_entered(
    optional_libraries: tuple[str, str],
) -> None:
    absent, present = optional_libraries
    with recorder.absent_imports_fail_fast():
        assert sys.modules[absent] is None  # the import system's mark for "absent"
        with pytest.raises(ModuleNotFoundError, match=r"halted; None in sys\.modules"):
            importlib.import_module(absent)
        assert importlib.import_module(present) is json
    assert absent not in sys.modules
    with pytest.raises(ModuleNotFoundError, match=f"No module named '{absent}'"):
        importlib.import_module(absent)


def test_a_library_added_to_the_import_path_later_is_importable_inside_the_next_cassette(
    optional_libraries: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent, _ = optional_libraries
    assert recorder.absent_libraries() == (absent,)
    (tmp_path / f"{absent}.py").write_text("FOUND = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # the module this test imports leaves sys.modules with the test (setitem records "absent")
    monkeypatch.setitem(sys.modules, absent, None)
    monkeypatch.delitem(sys.modules, absent)
    with recorder.absent_imports_fail_fast():
        assert absent not in sys.modules  # searched again, found, so not marked
        assert importlib.import_module(absent).FOUND is True


def test_a_module_a_test_put_in_sys_modules_is_left_as_it_was(
    optional_libraries: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    absent, _ = optional_libraries
    stand_in = types.ModuleType(absent)
    monkeypatch.setitem(sys.modules, absent, stand_in)
    with recorder.absent_imports_fail_fast():
        assert recorder.absent_libraries() == ()
        assert importlib.import_module(absent) is stand_in
    assert sys.modules[absent] is stand_in
