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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_helios.facts import AGENT_PATH, BASE_URL, LAB_RESULTS_PATH
from pytest_helios.payloads.validation import schema_directory

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
                validate(schema, instance)
            except ContractViolation as violation:
                first = str(violation).splitlines()[0]
                problems.append(f"interaction {index}, {part} ({schema}): {first}")
    return problems


Loader = Callable[[str], Mapping[str, Any]]


def _resolve(ref: str, root: Mapping[str, Any], load: Loader | None) -> tuple[Any, Any]:
    """(target schema, its document) for a ``$ref`` within this file or a sibling file."""
    file, _, pointer = ref.partition("#")
    document: Any = root
    if file:
        if load is None:
            return {}, root
        try:
            document = load(file)
        except (OSError, ValueError):
            return {}, root
    target: Any = document
    for part in pointer.strip("/").split("/") if pointer.strip("/") else ():
        target = target.get(part, {}) if isinstance(target, dict) else {}
    return target, document


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
            validate("webhook", _json(delivery.get("body")))
        except ContractViolation as violation:
            problems.append(f"delivery {index} (webhook): {str(violation).splitlines()[0]}")
    return problems


def _identifying(
    schema: Any, path: tuple[str, ...], root: Any, depth: int, load: Loader | None
) -> Iterator[str]:
    if depth > 30 or not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target, document = _resolve(ref, root, load)
        yield from _identifying(target, path, document, depth + 1, load)
    if schema.get("x-helios-identifying") is True and path:
        yield ".".join(path)
    for name, sub in (schema.get("properties") or {}).items():
        yield from _identifying(sub, (*path, name), root, depth + 1, load)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _identifying(schema[key], (*path, "*"), root, depth + 1, load)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for sub in schema.get(key) or []:
            yield from _identifying(sub, path, root, depth + 1, load)


def identifying_paths_in(schema: Mapping[str, Any], load: Loader | None = None) -> list[str]:
    """The paths a schema marks ``"x-helios-identifying": true`` (``*`` for array items);
    ``load(file_name)`` reads the sibling files its ``$ref`` values name."""
    return list(dict.fromkeys(_identifying(schema, (), schema, 0, load)))


@functools.lru_cache(maxsize=1)
def identifying_paths() -> tuple[str, ...]:
    """Paths (``patientContext.name``, ``labResults.*.notes``) the schemas mark identifying.

    Each is anchored anywhere (``**.`` prefix) so the same field inside a webhook payload or
    an error body is covered too.
    """
    found: set[str] = set()
    for directory in (schema_directory(),):

        @functools.cache
        def load(name: str, directory: Path = directory) -> Mapping[str, Any]:
            loaded: Mapping[str, Any] = json.loads((directory / name).read_text("utf-8"))
            return loaded

        for file in sorted(directory.glob("*.json")):
            try:
                schema = load(file.name)
            except (OSError, ValueError):
                continue
            found.update(f"**.{path}" for path in identifying_paths_in(schema, load))
    return tuple(sorted(found))
