"""Whatever a client sends, the emulator answers with a JSON 4xx or a success, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios.emulator import Account, ApiKey, HeliosEmulator

from .conftest import post, request

PATHS = [
    "/api/v1/agent",
    "/api/v1/lab-results",
    "/api/v1/agent/extra",
    "/",
    "/_emulator/accounts",
    "/_emulator/accounts/{account}",
    "/_emulator/accounts/{account}/keys",
    "/_emulator/accounts/{account}/keys/revoke-all",
    "/_emulator/accounts/{account}/states",
    "/_emulator/runs/nope",
    "/_emulator/deliveries",
    "/accounts/{account}/api/v1/agent",
    "/accounts/nope/api/v1/lab-results",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ADMIN_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "name": JSON_VALUES,
        "state": st.sampled_from(
            [
                "fail-next-run",
                "exhaust-concurrency",
                "drop-deliveries",
                "slow-deliveries",
                "release-concurrency",
                "x",
            ]
        ),
        "agent": JSON_VALUES,
        "atStep": JSON_VALUES,
        "count": JSON_VALUES,
        "delay": st.one_of(JSON_VALUES, st.floats(-1, 0.001)),
    },
)


@pytest.fixture(scope="module")
def target(emulator: HeliosEmulator) -> Iterator[tuple[Account, ApiKey]]:
    account = emulator.create_account("bad input")
    yield account, account.create_key("ci")


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from(PATHS),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "multipart/form-data",
            "",
        ]
    ),
    body=st.one_of(
        st.binary(max_size=64),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        ADMIN_BODIES.map(lambda v: json.dumps(v).encode()),
    ),
    with_key=st.booleans(),
)
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_request_gets_a_server_error(
    emulator: HeliosEmulator,
    target: tuple[Account, ApiKey],
    method: str,
    path: str,
    content_type: str,
    body: bytes,
    with_key: bool,
) -> None:
    account, key = target
    headers = {"content-type": content_type} if content_type else {}
    if with_key:
        headers["x-api-key"] = key.value
    url = emulator.url + path.format(account=account.id)
    response = request(method, url, headers=headers, content=body, timeout=10)
    assert response.status_code < 500, response.text
    assert isinstance(response.json(), (dict, list))
    account.release_concurrency()
    account.drop_deliveries(0)
    account.slow_deliveries(0)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"timeout": "soon"}, {"field": "timeout", "message": "expected number"}),
        ({"timeout": True}, {"field": "timeout", "message": "expected number"}),
        ([1], {"field": "", "message": "expected a JSON object"}),
    ],
)
def test_a_bad_wait_request_is_a_400_naming_the_field(
    emulator: HeliosEmulator, body: object, detail: dict[str, str]
) -> None:
    response = post(emulator.url + "/_emulator/wait", json=body)
    assert response.status_code == 400
    assert response.json()["details"] == [detail]
