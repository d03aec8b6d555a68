"""401: every documented cause is refused, with the assumed body, and never echoes the key.

Causes (authentication page): the ``x-api-key`` header is missing, the key is invalid or
revoked, or it belongs to a different account. Each is a property over valid request bodies
(and, for unknown keys, over generated keys); every 401 body must be valid against
``unauthorized-error`` and give the reason the schema assumes for that cause.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_helios.contract._properties import empty_keys, property_settings, unknown_keys
from pytest_helios.contract._recorder import ContractRecorder
from pytest_helios.contract._support import (
    NOWHERE,
    Target,
    fragment,
    json_body,
    observe_concurrency_headers,
)
from pytest_helios.facts import AGENT_PATH, API_KEY_HEADER, LAB_RESULTS_PATH, UNAUTHORIZED_REASONS
from pytest_helios.masking import mask_secret
from pytest_helios.payloads import strategies

MISSING, INVALID, REVOKED, FOREIGN = UNAUTHORIZED_REASONS
ASSUMPTION = "unauthorized-error.json#"
#: The emulator behaviours a cause's 401 message confirms: an empty key counts as missing, and a
#: key of another account is refused as foreign (the emulator's model of that cause).
BEHAVIOURS = {
    "an empty key": ("behaviour:blank-key-is-missing", MISSING),
    "a key of another account": ("behaviour:foreign-key", FOREIGN),
}
ENDPOINTS = pytest.mark.parametrize("endpoint", [AGENT_PATH, LAB_RESULTS_PATH])


def bodies(endpoint: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid request bodies whose webhooks, should a refused key be accepted after all, go
    nowhere (synthetic data only, but never to a real host the strategies happen to name)."""
    if endpoint == AGENT_PATH:
        valid = strategies.agent_requests()
    else:
        valid = strategies.lab_results_requests(max_labs=3)
    return valid.map(lambda body: {**body, "webhookUrl": NOWHERE})


def assert_refused(
    target: Target,
    contract: ContractRecorder,
    endpoint: str,
    body: dict[str, Any],
    key: str | None,
    reasons: tuple[str, ...],
    cause: str,
) -> None:
    __tracebackhide__ = True
    headers = {} if key is None else {API_KEY_HEADER: key}
    response = target.post(endpoint, body, headers)
    source = f"401 for {cause}"
    sent = key if key is not None and key.strip() else None
    secrets = [sent] if sent else []
    if response.status_code != 401:
        pytest.fail(f"{cause}: expected 401, got {fragment(response, secrets)}")
    if sent:
        contract.add_secret(sent)
        if sent in response.text:
            # shown with the key masked: a failed `assert key not in text` prints the text
            shown = fragment(response, secrets)
            pytest.fail(f"the 401 answer for {cause} echoes the key {mask_secret(sent)}: {shown}")
    refusal = json_body(response)
    contract.check("unauthorized-error", refusal, source)
    observe_concurrency_headers(contract, response, source, assumed=True)
    message = refusal.get("message")
    if cause in BEHAVIOURS:
        behaviour, assumed = BEHAVIOURS[cause]
        if message == assumed:
            contract.confirm(behaviour, source)
        else:
            contract.contradict(behaviour, source, f"$.message = {message!r}, assumed {assumed!r}")
    if message not in reasons:
        expected = " or ".join(repr(r) for r in reasons)
        contract.contradict(ASSUMPTION, source, f"$.message = {message!r}, expected {expected}")
        shown = contract.redact(repr(message))
        pytest.fail(f"{cause}: the 401 message is {shown}, expected {expected}")


@ENDPOINTS
def test_a_request_without_an_x_api_key_header_is_refused_as_missing(
    request: pytest.FixtureRequest, target: Target, contract: ContractRecorder, endpoint: str
) -> None:
    @property_settings(request)
    @given(bodies(endpoint))
    def refused(body: dict[str, Any]) -> None:
        assert_refused(target, contract, endpoint, body, None, (MISSING,), "a missing header")

    refused()


@ENDPOINTS
def test_an_empty_x_api_key_header_is_refused_as_missing_or_invalid(
    request: pytest.FixtureRequest, target: Target, contract: ContractRecorder, endpoint: str
) -> None:
    @property_settings(request)
    @given(bodies(endpoint), empty_keys())
    def refused(body: dict[str, Any], key: str) -> None:
        assert_refused(target, contract, endpoint, body, key, (MISSING, INVALID), "an empty key")

    refused()


@ENDPOINTS
def test_a_malformed_or_unknown_key_is_refused_as_invalid(
    request: pytest.FixtureRequest, target: Target, contract: ContractRecorder, endpoint: str
) -> None:
    @property_settings(request)
    @given(bodies(endpoint), unknown_keys())
    def refused(body: dict[str, Any], key: str) -> None:
        assert_refused(target, contract, endpoint, body, key, (INVALID,), "an unknown key")

    refused()


@ENDPOINTS
def test_a_revoked_key_is_refused_as_revoked(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    endpoint: str,
    revoked: str,
) -> None:
    @property_settings(request)
    @given(bodies(endpoint))
    def refused(body: dict[str, Any]) -> None:
        assert_refused(target, contract, endpoint, body, revoked, (REVOKED,), "a revoked key")

    refused()


@ENDPOINTS
def test_a_key_of_another_account_is_refused_as_foreign(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    endpoint: str,
    foreign: str,
) -> None:
    @property_settings(request)
    @given(bodies(endpoint))
    def refused(body: dict[str, Any]) -> None:
        cause = "a key of another account"
        assert_refused(target, contract, endpoint, body, foreign, (FOREIGN,), cause)

    refused()
