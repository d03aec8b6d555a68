"""What a cassette records: the Helios API (the target's base URL) and nothing else by default.
The app under test, its webhook handler and any other server are reached for real, recording
or replaying, whatever the client; ``record_hosts`` records more hosts, ``ignore_hosts`` fewer."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pytest_helios.facts import BASE_URL
from tests.cassettes.helpers import (
    ONE_CALL_CASSETTE,
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

GATEWAY_TEST = """
    import asyncio, os, warnings, httpx, pytest
    from fastapi import FastAPI

    with warnings.catch_warnings():  # Starlette prefers httpx2 now, and says so
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    handled = []
    app = FastAPI()

    @app.post("/labs")
    async def submit_labs():
        handled.append("labs")
        async with httpx.AsyncClient(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as helios:
            answer = await helios.post(URL + "/api/v1/lab-results", json=LAB_REQUEST)
        return {"helios": answer.json()["status"]}

    def through_the_async_client():
        async def call():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.post("/labs")
        return asyncio.run(call())

    def through_the_test_client():
        with TestClient(app) as client:
            return client.post("/labs")

    @pytest.mark.helios_cassette
    @pytest.mark.parametrize("client", ["async_client", "test_client"])
    def test_the_gateway_submits_labs(client):
        handled.clear()
        call = through_the_async_client if client == "async_client" else through_the_test_client
        response = call()
        assert response.json() == {"helios": "accepted"}
        assert handled == ["labs"]  # the handler ran
"""


def interactions(path: Path) -> list[dict[str, object]]:
    found: list[dict[str, object]] = yaml.safe_load(path.read_text())["interactions"]
    return found


def uris(path: Path) -> list[object]:
    return [interaction["request"]["uri"] for interaction in interactions(path)]  # type: ignore[index]


@pytest.mark.parametrize("client", ["async_client", "test_client"])
def test_the_app_under_test_runs_at_replay_and_only_its_helios_call_is_recorded(
    pytester: pytest.Pytester, server: FakeHelios, client: str
) -> None:
    write_project(pytester, server.url, GATEWAY_TEST)
    selected = f"test_api.py::test_the_gateway_submits_labs[{client}]"

    pytester.runpytest(selected, "--helios-record-mode=once").assert_outcomes(passed=1)

    cassette = pytester.path / f"cassettes/test_api/test_the_gateway_submits_labs[{client}].yaml"
    assert uris(cassette) == [f"{BASE_URL}/api/v1/lab-results"]
    server.close()
    pytester.runpytest(selected).assert_outcomes(passed=1)


TWO_SERVERS_TEST = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    def test_calls():
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=LAB_REQUEST).status_code == 200
            assert client.post(os.environ["OTHER_URL"] + "/echo", json={"a": 1}).status_code == 200
"""


@pytest.fixture
def other(server: FakeHelios, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHelios]:
    """A second server the code under test calls (not Helios), its URL in OTHER_URL."""
    with FakeHelios(server.api_key) as second:
        monkeypatch.setenv("OTHER_URL", second.url)
        yield second


def test_another_server_is_reached_for_real_when_recording_and_when_replaying(
    pytester: pytest.Pytester, server: FakeHelios, other: FakeHelios
) -> None:
    write_project(pytester, server.url, TWO_SERVERS_TEST)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    assert uris(pytester.path / ONE_CALL_CASSETTE) == [f"{BASE_URL}/api/v1/lab-results"]
    server.close()
    pytester.runpytest().assert_outcomes(passed=1)
    assert other.hits == [("POST", "/echo")] * 2


@pytest.mark.parametrize("where", ["ini", "marker"])
def test_record_hosts_records_another_server_too(
    pytester: pytest.Pytester, server: FakeHelios, other: FakeHelios, where: str
) -> None:
    host = other.url.split("//")[1]
    tests = TWO_SERVERS_TEST
    if where == "marker":
        tests = tests.replace("helios_cassette\n", f"helios_cassette(record_hosts=[{host!r}])\n")
    write_project(
        pytester, server.url, tests, ini=f"helios_record_hosts = {host}" if where == "ini" else ""
    )

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)

    recorded = uris(pytester.path / ONE_CALL_CASSETTE)
    assert recorded == [f"{BASE_URL}/api/v1/lab-results", f"{other.url}/echo"]
    server.close()
    other.close()
    pytester.runpytest().assert_outcomes(passed=1)


def test_ignore_hosts_leaves_even_a_helios_target_unrecorded(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = server.url.split("//")[1]
    tests = textwrap.dedent(TWO_SERVERS_TEST).replace(
        "helios_cassette\n", f"helios_cassette(ignore_hosts=[{host!r}])\n"
    )
    write_project(pytester, server.url, tests.replace("OTHER_URL", "HELIOS_URL"))
    monkeypatch.setenv("HELIOS_URL", server.url)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    pytester.runpytest().assert_outcomes(passed=1)  # nothing recorded: both reach the server

    assert not (pytester.path / "cassettes").exists()
    assert len(server.hits) == 4
