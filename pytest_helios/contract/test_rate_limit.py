"""429: at the concurrency limit, the documented body, headers and Retry-After.

On the emulator the ``exhaust_concurrency`` provider state fills the account's light slots.
Against the live API the test has to start as many concurrent light runs as the limit (7 by
default, each a paid run), so it runs only with HELIOS_CONTRACT_EXTRA_RUNS=1.
"""

from __future__ import annotations

import pytest

from pytest_helios.contract._recorder import ContractRecorder
from pytest_helios.contract._support import (
    Target,
    agent_body,
    assert_concurrency_headers,
    extra_runs_allowed,
    fragment,
    json_body,
    observe_concurrency_headers,
)
from pytest_helios.facts import (
    AGENT_PATH,
    API_KEY_HEADER,
    CONCURRENCY_LIMIT,
    CONCURRENT_ACTIVE_HEADER,
    CONCURRENT_LIMIT_HEADER,
    CONCURRENT_REMAINING_HEADER,
)


def test_at_the_concurrency_limit_a_request_gets_the_documented_429(
    request: pytest.FixtureRequest,
    target: Target,
    contract: ContractRecorder,
    api_key: str,
    sink_url: str,
) -> None:
    extra_runs_allowed(
        request,
        "the 429 contract needs as many concurrent light runs as the account's limit "
        "(7 by default, each a paid run)",
    )
    if not target.live:
        request.getfixturevalue("helios_account").exhaust_concurrency("light")
    headers = {API_KEY_HEADER: api_key}
    response = target.post(AGENT_PATH, agent_body(sink_url), headers)
    # At most as many more runs as the first answer says are free: never an open-ended loop
    # of paid runs against an API that does not answer 429.
    remaining = response.headers.get(CONCURRENT_REMAINING_HEADER, "")
    free = int(remaining) if remaining.isdigit() else CONCURRENCY_LIMIT
    for _ in range(free + 1):
        if response.status_code != 200:
            break
        response = target.post(AGENT_PATH, agent_body(sink_url), headers)
    assert response.status_code == 429, f"expected 429 at the limit, got {fragment(response)}"
    refusal = json_body(response)
    contract.check("rate-limit-error", refusal, "429 at the concurrency limit")
    observe_concurrency_headers(contract, response, "429 at the concurrency limit", assumed=True)
    header = assert_concurrency_headers(response)
    limit = header(CONCURRENT_LIMIT_HEADER)
    assert header(CONCURRENT_ACTIVE_HEADER) == limit
    assert header(CONCURRENT_REMAINING_HEADER) == 0
    assert refusal["activeCount"] == refusal["limit"] == limit
    assert refusal["message"] == (
        f"You have {limit} active light agent requests. Maximum is {limit}."
    )
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit(), f"Retry-After: {retry_after!r}"
