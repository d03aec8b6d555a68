"""`pytest_helios.payloads.strategies`: everything each public strategy generates validates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios import strategies, validate

# Moderate example counts keep this file well under a minute.
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# strategy, the schema every output must satisfy
CASES: list[tuple[str, st.SearchStrategy[dict[str, Any]], str]] = [
    ("agent_requests", strategies.agent_requests(), "agent-request"),
    ("agent_requests deep", strategies.agent_requests(agent_type="deep"), "agent-request"),
    ("lab_results_requests", strategies.lab_results_requests(), "lab-results-request"),
    ("accepted_responses", strategies.accepted_responses(), "accepted-response"),
    ("validation_errors", strategies.validation_errors(), "validation-error"),
    ("unauthorized_errors", strategies.unauthorized_errors(), "unauthorized-error"),
    ("rate_limit_errors", strategies.rate_limit_errors(), "rate-limit-error"),
    ("status_updates", strategies.status_updates(), "webhook-status-update"),
    ("ehr_completed_webhooks", strategies.ehr_completed_webhooks(), "webhook-ehr-completed"),
    (
        "lab_results_completed_webhooks",
        strategies.lab_results_completed_webhooks(),
        "webhook-lab-results-completed",
    ),
    ("error_webhooks", strategies.error_webhooks(), "webhook-error"),
    ("webhook_payloads", strategies.webhook_payloads(), "webhook"),
]


@pytest.mark.parametrize(
    ("strategy", "schema_name"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_everything_a_strategy_generates_validates_against_its_schema(
    strategy: st.SearchStrategy[dict[str, Any]], schema_name: str
) -> None:
    @PROPERTY
    @given(strategy)
    def check(payload: dict[str, Any]) -> None:
        validate(schema_name, payload)

    check()


@pytest.mark.parametrize("kind", strategies.WEBHOOK_KINDS)
def test_every_webhook_kind_validates_against_the_dispatching_webhook_schema(kind: str) -> None:
    @PROPERTY
    @given(strategies.webhook_payloads(kind=kind))
    def check(payload: dict[str, Any]) -> None:
        validate("webhook", payload)

    check()


@PROPERTY
@given(strategies.lab_results())
def test_a_generated_lab_validates_inside_a_minimal_request(lab: dict[str, Any]) -> None:
    validate(
        "lab-results-request", {"webhookUrl": "https://your-server.com/hook", "labResults": [lab]}
    )


@PROPERTY
@given(strategies.patient_contexts())
def test_a_generated_patient_context_carries_age_as_a_string(context: dict[str, Any]) -> None:
    if "age" in context:
        assert isinstance(context["age"], str)
    validate(
        "lab-results-request",
        {
            "webhookUrl": "https://your-server.com/hook",
            "labResults": [{"name": "Sodium", "value": "140 mEq/L"}],
            "patientContext": context,
        },
    )


@PROPERTY
@given(strategies.ehr_completed_webhooks(agent="deep"))
def test_deep_completions_always_carry_research_tasks(payload: dict[str, Any]) -> None:
    assert payload["result"]["researchTasks"]


@PROPERTY
@given(strategies.status_updates(agent="lab-results"))
def test_status_updates_of_one_agent_come_before_its_final_sequence_number(
    payload: dict[str, Any],
) -> None:
    assert payload["agent"] == "lab-results"
    assert 1 <= payload["sequenceNumber"] < 8


def test_the_generated_text_includes_unicode_and_emoji() -> None:
    seen: list[str] = []

    @settings(max_examples=200, deadline=None)
    @given(strategies.free_text(max_size=40))
    def collect(text: str) -> None:
        seen.append(text)

    collect()
    assert any(not text.isascii() for text in seen)
    assert any(any(ord(char) > 0x1F000 for char in text) for text in seen)


@pytest.mark.parametrize(("min_size", "max_size"), [(0, 0), (0, 3), (1, 5), (30, 30)])
def test_free_text_keeps_to_any_size_range(min_size: int, max_size: int) -> None:
    @PROPERTY
    @given(strategies.free_text(min_size=min_size, max_size=max_size))
    def check(text: str) -> None:
        assert min_size <= len(text) <= max_size

    check()


def test_an_unknown_webhook_kind_is_refused_with_the_valid_kinds() -> None:
    with pytest.raises(ValueError) as caught:
        strategies.webhook_payloads(kind="completed")
    assert str(caught.value) == (
        "'completed' is not a valid webhook kind. Valid values: status-update, ehr-completed, "
        "lab-results-completed, error"
    )


def test_an_unknown_agent_type_is_refused_with_the_valid_values() -> None:
    with pytest.raises(ValueError) as caught:
        strategies.agent_requests(agent_type="medium")  # type: ignore[arg-type]
    assert str(caught.value) == "'medium' is not a valid agent_type. Valid values: light, deep"


def test_importing_the_plugin_does_not_import_hypothesis_or_jsonschema_rs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy_is_imported():
            import pytest_helios
            assert pytest_helios.SCHEMA_NAMES
            heavy = {"jsonschema_rs", "jsonschema", "pytest_helios.payloads.strategies"}
            assert not heavy & set(sys.modules), heavy & set(sys.modules)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
