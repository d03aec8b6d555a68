"""Replay finds each request by key, whatever the cassette's size: no matcher is tried on every
recorded interaction, and a request that matches nothing never reaches pytest's assertion
machinery (the plugin's modules are assertion-rewritten like a test's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vcr.matchers import requests_match
from vcr.request import Request

from pytest_helios.cassettes.matching import MATCHERS, match_key
from pytest_helios.cassettes.recorder import _HeliosCassette
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

MANY_CALLS = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    def test_many_calls():
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            for age in range(20, 70):
                payload = {**LAB_REQUEST, "patientContext": {"age": str(age), "gender": "male"}}
                response = client.post(URL + "/api/v1/lab-results", json=payload)
                assert response.status_code == 200

    def test_a_failing_comparison_in_a_test_reaches_the_hook():
        with pytest.raises(AssertionError):
            assert [1, 2] == [1, 3]
"""

COUNT_ASSERTREPR = """

def pytest_assertrepr_compare(config, op, left, right):
    with open(config.rootpath / "assertrepr-calls.txt", "a") as calls:
        calls.write(f"{type(left).__name__} {op} {type(right).__name__}\\n")
"""


def test_replaying_a_cassette_of_fifty_interactions_never_calls_the_assertion_repr_hook(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    """In a fresh interpreter, where pytest rewrites the plugin's modules as it does for users;
    the hook is live (the test's own failing comparison reaches it, once)."""
    write_project(pytester, server.url, MANY_CALLS)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + COUNT_ASSERTREPR)
    pytester.runpytest_subprocess("--helios-record-mode=once").assert_outcomes(passed=2)
    calls = pytester.path / "assertrepr-calls.txt"
    calls.unlink()
    served = len(server.hits)

    pytester.runpytest_subprocess().assert_outcomes(passed=2)

    assert len(server.hits) == served  # replayed: nothing reached the server
    assert calls.read_text().splitlines() == ["list == list"]


STASH_WATCH = """

import json
from pytest_helios import _stash

SEEN = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    SEEN.append([call.when, _stash.cassette_session in item.stash])
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    result = yield
    SEEN.append(["after the test", _stash.cassette_session in item.stash])
    return result


def pytest_sessionfinish(session):
    (session.config.rootpath / "stash.json").write_text(json.dumps(SEEN))
"""

AGE_CALL = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    def test_calls():
        payload = {**LAB_REQUEST, "patientContext": {"age": os.environ.get("AGE", "58")}}
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=payload).status_code == 200
"""


def _watch_stash(pytester: pytest.Pytester) -> None:
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + STASH_WATCH)


def _seen(pytester: pytest.Pytester) -> list[list[Any]]:
    seen: list[list[Any]] = json.loads((pytester.path / "stash.json").read_text())
    return seen


def test_the_cassette_session_leaves_the_items_stash_when_its_test_ends(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    write_project(pytester, server.url, AGE_CALL)
    _watch_stash(pytester)

    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    recorded = _seen(pytester)
    pytester.runpytest().assert_outcomes(passed=1)

    expected = [["setup", True], ["call", True], ["teardown", False], ["after the test", False]]
    assert recorded == expected
    assert _seen(pytester) == expected


def test_a_miss_still_explains_itself_in_the_report_of_a_test_whose_session_is_gone(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, server.url, AGE_CALL)
    _watch_stash(pytester)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    monkeypatch.setenv("AGE", "61")

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "helios: no recorded response for POST https://api.heliosai.health/api/v1/lab-results",
            "  closest:   interaction 0: POST /api/v1/lab-results",
            '             body $.patientContext.age: asked "61", recorded "58"',
        ]
    )
    assert _seen(pytester)[-2:] == [["teardown", False], ["after the test", False]]


WEAKREFS = """
    import os, weakref, httpx, pytest

    KEPT = {}

    @pytest.mark.helios_cassette
    def test_calls(helios_cassette):
        payload = {**LAB_REQUEST, "patientContext": {"age": "58"}}
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=payload).status_code == 200
        [(recorded, _)] = helios_cassette.cassette.data
        KEPT.update(session=helios_cassette, interaction=weakref.ref(recorded))

    def test_nothing_of_the_cassette_is_left():
        session = KEPT["session"]
        assert KEPT["interaction"]() is None
        assert (session.cassette, session.loaded, session.request) == (None, None, None)
"""


@pytest.mark.parametrize("mode", ["once", "none"])
def test_what_a_cassette_loaded_or_recorded_is_freed_when_its_test_ends(
    pytester: pytest.Pytester, server: FakeHelios, mode: str
) -> None:
    """Without waiting for the garbage collector (vcrpy's patched classes, in reference
    cycles, keep the cassette object until it runs), and even while a test keeps the session."""
    write_project(pytester, server.url, WEAKREFS)
    if mode == "none":
        pytester.runpytest("--helios-record-mode=once", "-p", "no:randomly")

    result = pytester.runpytest(f"--helios-record-mode={mode}", "-p", "no:randomly")

    result.assert_outcomes(passed=2)


# -- the index and the matchers agree ------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b", ""]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("xyz"), inner),
    max_leaves=4,
)


@st.composite
def _requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["POST", "post", "GET"]))
    path = draw(st.sampled_from(["", "/", "/api/v1/lab-results", "/api/v1/agent"]))
    pairs = draw(st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from(["", "1"])), max_size=2))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    indent = draw(st.sampled_from([None, 1]))  # the same data in another layout
    body: Any = draw(
        st.none()
        | st.sampled_from([b"", b"not json", b"{"])
        | _json_values.map(lambda value: json.dumps(value, indent=indent))
    )
    if isinstance(body, str) and draw(st.booleans()):
        body = body.encode()
    return Request(method, f"https://api.heliosai.health{path}?{query}", body, {})


@given(_requests(), _requests())
def test_two_requests_have_the_same_key_exactly_when_every_matcher_passes(
    asked: Request, recorded: Request
) -> None:
    assert (match_key(asked) == match_key(recorded)) == requests_match(asked, recorded, MATCHERS)


def _cassette(*bodies: str) -> _HeliosCassette:
    cassette = _HeliosCassette("unused.yaml", match_on=MATCHERS)
    for number, body in enumerate(bodies):
        cassette.data.append((_post(body), {"answer": number}))
    return cassette


def _post(body: str) -> Request:
    return Request("POST", "https://api.heliosai.health/api/v1/lab-results", body, {})


def test_the_index_finds_every_recorded_answer_to_a_request_in_recorded_order() -> None:
    cassette = _cassette('{"a": 1}', '{"a": 2}', '{ "a" : 1 }', '{"a": 3}')

    found = list(cassette._responses(_post('{"a":1}')))

    assert found == [(0, {"answer": 0}), (2, {"answer": 2})]
    assert list(cassette._responses(_post('{"a": 4}'))) == []


def test_the_index_sees_interactions_recorded_after_it_was_built() -> None:
    cassette = _cassette('{"a": 1}')
    assert list(cassette._responses(_post('{"a": 2}'))) == []

    cassette.data.append((_post('{"a": 2}'), {"answer": "new"}))

    assert list(cassette._responses(_post('{"a": 2}'))) == [(1, {"answer": "new"})]


def test_the_first_unplayed_answer_is_played_and_then_the_next() -> None:
    cassette = _cassette('{"a": 1}', '{"a": 2}', '{"a": 1}')

    played = [cassette.play_response(_post('{"a": 1}')) for _ in range(2)]

    assert played == [{"answer": 0}, {"answer": 2}]
    assert _post('{"a": 1}') not in cassette
    assert _post('{"a": 2}') in cassette


def test_a_cassette_matched_on_other_matchers_scans_as_vcrpy_does() -> None:
    def any_request(r1: Any, r2: Any) -> bool:
        return True

    cassette = _HeliosCassette("unused.yaml", match_on=(any_request,))
    cassette.data += [(_post("1"), "first"), (_post("2"), "second")]

    assert list(cassette._responses(_post("3"))) == [(0, "first"), (1, "second")]


def test_a_differing_request_fails_each_matcher_with_a_plain_assertion_error() -> None:
    asked = Request("GET", "https://api.heliosai.health/a?x=1", b'{"a": 1}', {})
    recorded = Request("POST", "https://api.heliosai.health/b?x=2", b'{"a": 2}', {})

    messages = []
    for matcher in MATCHERS:
        with pytest.raises(AssertionError) as failed:
            matcher(asked, recorded)
        messages.append(str(failed.value))

    assert messages == [
        "GET != POST",
        "/a != /b",
        "[('x', '1')] != [('x', '2')]",
        "bodies differ",
    ]


def test_the_matching_module_has_no_assert_statement() -> None:
    """pytest rewrites a plugin's asserts: a failing one would run the assertion-repr hooks."""
    import ast

    import pytest_helios.cassettes.matching as matching

    tree = ast.parse(Path(matching.__file__).read_text(encoding="utf-8"))
    assert not [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
