"""Cassettes and the contract in ``schemas/``.

- Replay: each recorded Helios interaction is validated against its schema (an accepted
  request against its request schema; every response by status), so a cassette that no
  longer matches the contract fails instead of rotting silently.
- Scrubbing: every property a schema marks ``"x-helios-identifying": true`` is a patient
  identifier, pseudonymized like the built-in ones.

A problem line (printed by a failing replay and by the linter) shows no value the scrubber
would hide: what the scrubber's rules call an identifier is shown by its type and shape, a
secret field and a key-shaped string as ``[REDACTED]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pytest_helios.facts import AGENT_PATH, BASE_URL, LAB_RESULTS_PATH
from pytest_helios.payloads.validation import (
    IDENTIFYING,
    REDACTED,
    SECRET,
    identifying_paths,
    identifying_paths_in,
)

__all__ = [
    "REQUEST_SCHEMAS",
    "RESPONSE_SCHEMAS",
    "check_document",
    "check_webhooks",
    "identifying_paths",
    "identifying_paths_in",
]

REQUEST_SCHEMAS: Mapping[tuple[str, str], str] = {
    ("POST", AGENT_PATH): "agent-request",
    ("POST", LAB_RESULTS_PATH): "lab-results-request",
}
RESPONSE_SCHEMAS: Mapping[int, str] = {
    200: "accepted-response",
    400: "validation-error",
    401: "unauthorized-error",
    429: "rate-limit-error",
}


def _json(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _sensitive(path: tuple[str, ...]) -> str | None:
    """What the scrubber's default rules (and the schemas' marks) hide at ``path``."""
    from pytest_helios.cassettes.scrub import Rules

    rules = Rules.with_additions(identifying=identifying_paths())
    if path and not path[-1].startswith("[") and rules.is_secret_key(path[-1]):
        return SECRET
    return IDENTIFYING if rules.identifying_kind(path) is not None else None


def _problem(where: str, violation: Exception) -> str:
    """One line for a violation: its first line, with every key-shaped string redacted (the
    scan's shapes, beyond the Helios ones the violation already hides)."""
    from pytest_helios.cassettes.scan import ANY_KEY_PATTERN

    return f"{where}: {ANY_KEY_PATTERN.sub(REDACTED, str(violation).splitlines()[0])}"


def check_document(document: Mapping[str, Any]) -> list[str]:
    """One line per contract violation in a cassette's Helios interactions; [] when clean.

    Without ``pytest_helios.payloads.validation`` (the schemas) there is nothing to check against.
    """
    try:
        from pytest_helios.exceptions import ContractViolation
        from pytest_helios.payloads.validation import validate
    except ImportError:
        return []
    problems: list[str] = []
    for index, interaction in enumerate(document.get("interactions") or []):
        request, response = interaction["request"], interaction["response"]
        if not str(request.get("uri", "")).startswith(BASE_URL):
            continue
        key = (str(request["method"]).upper(), urlsplit(request["uri"]).path)
        code = response["status"]["code"]
        checks = []
        if key in REQUEST_SCHEMAS and 200 <= code < 300:
            checks.append(("request", REQUEST_SCHEMAS[key], _json(request.get("body"))))
        if key in REQUEST_SCHEMAS and code in RESPONSE_SCHEMAS:
            body = _json(response["body"].get("string"))
            checks.append(("response", RESPONSE_SCHEMAS[code], body))
        for part, schema, instance in checks:
            try:
                validate(schema, instance, sensitive=_sensitive)
            except ContractViolation as violation:
                problems.append(_problem(f"interaction {index}, {part} ({schema})", violation))
    return problems


def check_webhooks(deliveries: list[dict[str, Any]]) -> list[str]:
    """One line per recorded webhook delivery that breaks the ``webhook`` schema."""
    try:
        from pytest_helios.exceptions import ContractViolation
        from pytest_helios.payloads.validation import validate
    except ImportError:  # pragma: no cover - the schemas ship with the package
        return []
    problems = []
    for index, delivery in enumerate(deliveries):
        try:
            validate("webhook", _json(delivery.get("body")), sensitive=_sensitive)
        except ContractViolation as violation:
            problems.append(_problem(f"delivery {index} (webhook)", violation))
    return problems
