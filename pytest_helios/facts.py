"""The documented facts of the Helios API, in one place (``shared/helios-api.md`` cites each page).

Every other module takes its base URL, endpoint paths, header names, key and secret prefixes,
agents, limits and prices from here, so a fact that changes changes once. Where the
documentation is silent the value is marked *assumed* and listed in ``docs/assumptions.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

#: The live API's base URL (Hosts and authentication). Cassettes store every interaction under it.
BASE_URL = "https://api.heliosai.health"

#: ``POST``: the EHR Agent (``agentType`` ``light`` or ``deep``).
AGENT_PATH = "/api/v1/agent"
#: ``POST``: the Lab Results Agent.
LAB_RESULTS_PATH = "/api/v1/lab-results"
#: Both documented endpoints.
ENDPOINT_PATHS: tuple[str, ...] = (AGENT_PATH, LAB_RESULTS_PATH)

#: The request header that carries the API key.
API_KEY_HEADER = "x-api-key"
#: Every API key starts so.
API_KEY_PREFIX = "sk_live_"
#: Every webhook signing secret starts so.
WEBHOOK_SECRET_PREFIX = "whsec_"

#: Delivery headers: the signature over the raw body, the unsigned timestamp and run id.
SIGNATURE_HEADER = "X-Helios-Signature"
TIMESTAMP_HEADER = "X-Helios-Timestamp"
RUN_ID_HEADER = "X-Helios-Run-ID"
#: ``X-Helios-Signature`` is this prefix and the lowercase hex HMAC-SHA256 of the body.
SIGNATURE_PREFIX = "sha256="
#: The documented verification sample rejects a delivery whose ``X-Helios-Timestamp`` is more
#: than this many seconds away from the clock, either way (Webhooks: timestamp tolerance).
TIMESTAMP_TOLERANCE = 300

#: The concurrency headers "every response carries".
CONCURRENT_LIMIT_HEADER = "X-Concurrent-Limit"
CONCURRENT_ACTIVE_HEADER = "X-Concurrent-Active"
CONCURRENT_REMAINING_HEADER = "X-Concurrent-Remaining"
CONCURRENCY_HEADERS: tuple[str, ...] = (
    CONCURRENT_LIMIT_HEADER,
    CONCURRENT_ACTIVE_HEADER,
    CONCURRENT_REMAINING_HEADER,
)
#: The default concurrency limit of each agent type, counted separately per account.
CONCURRENCY_LIMIT = 7

Agent = Literal["light", "deep", "lab-results"]
#: The three agents, as the webhook ``agent`` field names them.
AGENTS: tuple[Agent, ...] = ("light", "deep", "lab-results")
#: The EHR Agent's ``agentType`` values.
EHR_AGENT_TYPES: tuple[Agent, ...] = ("light", "deep")

#: US dollars per run, per agent (Limits, pricing, timings: "Light $0.65 per run, Deep $3.50
#: per run, Lab Results $0.65 per request"); read-only. Public as ``pytest_helios.PRICES_USD``.
PRICES_USD: Mapping[Agent, float] = MappingProxyType(
    {"light": 0.65, "deep": 3.50, "lab-results": 0.65}
)

#: The Lab Results Agent processes at most this many labs, the most recent ones.
LAB_LIMIT = 200

#: What the embedded emulator does with a request field, or a ``patientContext`` key, that the
#: documentation does not list (it does not say what the API does: *assumed*,
#: ``behaviour:unknown-fields``): ``strict`` refuses it with a 400 naming it, ``lenient``
#: accepts and ignores it.
UNKNOWN_FIELDS_MODES: tuple[str, ...] = ("strict", "lenient")

#: The documented acceptance message.
ACCEPTED_MESSAGE = "Request accepted. Results will be delivered to your webhook."

#: The 401 messages, one per documented cause (the wording is assumed).
MISSING_KEY = "Missing x-api-key header"
INVALID_KEY = "Invalid API key"
REVOKED_KEY = "API key has been revoked"
FOREIGN_KEY = "API key belongs to a different account"
UNAUTHORIZED_REASONS: tuple[str, ...] = (MISSING_KEY, INVALID_KEY, REVOKED_KEY, FOREIGN_KEY)


def check_agent(agent: object, valid: tuple[Agent, ...] = AGENTS, what: str = "agent") -> Agent:
    """``agent`` as an :data:`Agent` among ``valid``, or ``ValueError`` listing the valid ones."""
    for known in valid:
        if agent == known:
            return known
    raise ValueError(f"{agent!r} is not a valid {what}. Valid values: {', '.join(valid)}")
