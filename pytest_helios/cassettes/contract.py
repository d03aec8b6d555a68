"""Cassettes and the contract in ``schemas/``.

- Replay: each recorded Helios interaction is validated against its schema (an accepted
  request against its request schema; every response by status), so a cassette that no
  longer matches the contract fails instead of rotting silently.
- Scrubbing: every property a schema marks ``"x-helios-identifying": true`` is a patient
  identifier, pseudonymized like the built-in ones.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from pytest_helios.cassettes.config import CANONICAL_BASE_URL
from pytest_helios.cassettes.persister import _schema_dirs

REQUEST_SCHEMAS: Mapping[tuple[str, str], str] = {
    ("POST", "/api/v1/agent"): "agent-request",
    ("POST", "/api/v1/lab-results"): "lab-results-request",
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


def check_document(document: Mapping[str, Any]) -> list[str]:
    """One line per contract violation in a cassette's Helios interactions; [] when clean.

    Without ``pytest_helios.validation`` (the schemas) there is nothing to check against.
    """
    try:
        from pytest_helios.validation import (  # type: ignore[import-not-found,unused-ignore]
            ContractViolation,
            validate,
        )
    except ImportError:
        return []
    problems: list[str] = []
    for index, interaction in enumerate(document.get("interactions") or []):
        request, response = interaction["request"], interaction["response"]
        if not str(request.get("uri", "")).startswith(CANONICAL_BASE_URL):
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
                validate(schema, instance)
            except ContractViolation as violation:
                first = str(violation).splitlines()[0]
                problems.append(f"interaction {index}, {part} ({schema}): {first}")
    return problems


def _identifying(schema: Any, path: tuple[str, ...], root: Any, depth: int) -> Iterator[str]:
    if depth > 20 or not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        yield from _identifying(target, path, root, depth + 1)
    if schema.get("x-helios-identifying") is True and path:
        yield ".".join(path)
    for name, sub in (schema.get("properties") or {}).items():
        yield from _identifying(sub, (*path, name), root, depth + 1)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _identifying(schema[key], (*path, "*"), root, depth + 1)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for sub in schema.get(key) or []:
            yield from _identifying(sub, path, root, depth + 1)


def identifying_paths_in(schema: Mapping[str, Any]) -> list[str]:
    """The paths one schema marks ``"x-helios-identifying": true`` (``*`` for array items)."""
    return list(dict.fromkeys(_identifying(schema, (), schema, 0)))


@functools.lru_cache(maxsize=1)
def identifying_paths() -> tuple[str, ...]:
    """Paths (``patientContext.name``, ``labResults.*.notes``) the schemas mark identifying.

    Each is anchored anywhere (``**.`` prefix) so the same field inside a webhook payload or
    an error body is covered too.
    """
    found: set[str] = set()
    for directory in _schema_dirs()[:1]:
        for file in sorted(directory.glob("*.json")):
            try:
                schema = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found.update(f"**.{path}" for path in identifying_paths_in(schema))
    return tuple(sorted(found))
