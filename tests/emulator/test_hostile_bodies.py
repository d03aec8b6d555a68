"""A huge invalid body costs the emulator about what a valid one does: its check is bounded, its
400 lists at most 100 problems and counts the rest, and nobody waits while it is checked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest_helios.payloads.validation as validation
from pytest_helios.emulator import HeliosEmulator
from pytest_helios.emulator.request_checks import FieldProblem, schema_problems
from tests.samples import LAB, NOWHERE

from .conftest import plain_client

MISTYPED = {"name": 1, "value": 2, "flag": 3}


def huge_mistyped_body(size: int = 5_190_000) -> bytes:
    """A lab-results request of about ``size`` bytes (under the 5 MiB limit), every lab wrong."""
    count = (size - 60) // (len(json.dumps(MISTYPED)) + 2)
    return json.dumps({"webhookUrl": NOWHERE, "labResults": [MISTYPED] * count}).encode()


@pytest.fixture
def own_emulator() -> Iterator[tuple[HeliosEmulator, httpx.Client]]:
    """An emulator of its own: these tests hold up its checks on purpose."""
    with HeliosEmulator() as emu:
        key = emu.create_account("hostile").create_key("ci").value
        headers = {"x-api-key": key, "content-type": "application/json"}
        with plain_client(base_url=emu.url, headers=headers, timeout=120) as client:
            yield emu, client


def test_a_5_mb_body_with_every_lab_mistyped_gets_100_details_and_a_count_of_the_rest(
    own_emulator: tuple[HeliosEmulator, httpx.Client],
) -> None:
    _, client = own_emulator
    body = huge_mistyped_body()
    assert 5_100_000 < len(body) < 5 * 1024 * 1024
    response = client.post("/api/v1/lab-results", content=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["message"] == (
        "labResults[0].name: expected string, got integer "
        "(and 9,900 more; the check stopped after 10,000 problems)"
    )
    assert answer["detailsOmitted"] == 9_900
    assert len(answer["details"]) == 100
    assert answer["details"][:3] == [
        {"field": "labResults[0].name", "message": "expected string, got integer"},
        {"field": "labResults[0].value", "message": "expected string, got integer"},
        {
            "field": "labResults[0].flag",
            "message": "expected one of 'High', 'Low', 'Normal', 'Critical'",
        },
    ]
    assert len(response.content) < 20_000
    validation.validate("validation-error", answer)


def test_other_clients_are_answered_while_a_huge_body_is_still_being_checked(
    own_emulator: tuple[HeliosEmulator, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of the huge body is held until another client has its answer: that answer
    can only come if the check does not hold the emulator's event loop."""
    emu, client = own_emulator
    checking = threading.Event()
    answered = threading.Event()
    real_validate = validation.validate

    def held_validate(schema_name: str, instance: object, **kwargs: Any) -> None:
        labs = instance.get("labResults") if isinstance(instance, dict) else None
        if isinstance(labs, list) and labs and labs[0] == MISTYPED:
            checking.set()
            answered.wait(timeout=10)  # the old emulator: the loop is held, nobody answers
        real_validate(schema_name, instance, **kwargs)

    monkeypatch.setattr(validation, "validate", held_validate)
    order: list[str] = []
    outcome: dict[str, Any] = {}

    def send_huge_body() -> None:
        outcome["status"] = client.post("/api/v1/lab-results", content=huge_mistyped_body())
        order.append("huge body answered")

    sender = threading.Thread(target=send_huge_body)
    sender.start()
    try:
        assert checking.wait(timeout=60), "the huge body was never checked"
        with plain_client(base_url=emu.url, timeout=5) as other:
            assert other.get("/_emulator/health").json() == {"status": "ok"}
        order.append("other client answered")
        answered.set()
    finally:
        answered.set()
        sender.join(timeout=120)
    assert order == ["other client answered", "huge body answered"]
    assert outcome["status"].status_code == 400


LABS = st.lists(
    st.one_of(
        st.just(dict(LAB)),
        st.just(MISTYPED),
        st.just({"name": "Sodium"}),
        st.just({**LAB, "date": "yesterday"}),
        st.just("not a lab"),
    ),
    min_size=0,
    max_size=400,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs=LABS, conditions=st.integers(0, 300))
def test_the_bounded_check_finds_exactly_what_a_whole_check_finds(
    labs: list[Any], conditions: int
) -> None:
    """Arrays longer than the window the check cuts them to (with a maxItems of 100 among
    them): the same problems, worded the same, with the real item counts."""
    body = {
        "webhookUrl": NOWHERE,
        "labResults": labs,
        "patientContext": {"conditions": [{"name": 7}] * conditions},
    }
    found, stopped = schema_problems("lab-results-request", body)
    assert not stopped
    assert sorted(found, key=repr) == sorted(whole_check(body), key=repr)


def whole_check(body: object) -> list[FieldProblem]:
    """The problems as one pass of ``validate`` words them (what the emulator did before)."""
    from pytest_helios.emulator.request_checks import _field_problem

    try:
        validation.validate("lab-results-request", body)
    except validation.ContractViolation as exc:
        return [_field_problem(v.path, v.keyword, v.message) for v in exc.violations]
    return []


def test_a_problem_far_down_a_long_array_is_found_and_named_by_its_index() -> None:
    labs = [dict(LAB) for _ in range(50_000)]
    labs[43_210] = {"name": "Potassium"}
    found, stopped = schema_problems(
        "lab-results-request", {"webhookUrl": NOWHERE, "labResults": labs}
    )
    assert (found, stopped) == ([FieldProblem("labResults[43210].value", "is required")], False)
