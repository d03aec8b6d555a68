"""Request checks of the two endpoints: JSON parsing, the request schemas, the webhookUrl rule.

Every problem becomes a :class:`FieldError` naming the field by dotted path
(``data.patientInfo.age``, ``labResults[3].value``; ``""`` for the whole body), so that a 400
lists each bad field at once.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "localhost.localdomain"})
MAX_DEPTH = 64


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class BadRequest(Exception):
    """The request cannot be accepted; ``errors`` name every bad field."""

    def __init__(self, summary: str, errors: Sequence[FieldError]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.errors = list(errors)

    def body(self) -> dict[str, Any]:
        return {
            "error": "Validation Error",
            "message": self.summary,
            "details": [e.as_dict() for e in self.errors],
        }


def field_path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _depth(value: Any) -> int:
    # Iterative, so that a hostile body cannot exhaust the stack here either.
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, content_type: str | None) -> Any:
    """Parse a request body, or raise :class:`BadRequest` saying what is wrong with it."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        shown = media or "none"
        raise BadRequest(
            "Content-Type must be application/json",
            [FieldError("", f"expected Content-Type application/json, got {shown}")],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            "Request body is not valid UTF-8",
            [FieldError("", f"invalid UTF-8 byte at position {exc.start}")],
        ) from None
    if not text.strip():
        raise BadRequest("Request body is empty", [FieldError("", "a JSON object is required")])
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(
            "Request body is nested too deeply",
            [FieldError("", f"JSON nesting deeper than {MAX_DEPTH} levels")],
        ) from None
    except ValueError as exc:
        raise BadRequest(
            "Request body is not valid JSON", [FieldError("", str(exc).split(":")[0])]
        ) from None
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(
            "Request body is nested too deeply",
            [FieldError("", f"JSON nesting deeper than {MAX_DEPTH} levels")],
        )
    return value


def webhook_url_error(url: str, *, require_https: bool) -> str | None:
    """Why ``url`` cannot receive webhooks, or ``None``.

    HTTPS is documented; plain HTTP is accepted for loopback hosts (local receivers in tests)
    unless ``require_https`` is set.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "must be an absolute http(s) URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http(s) URL"
    if parts.scheme == "https":
        return None
    if require_https:
        return "must use https"
    if not _is_loopback(host):
        return "must use https (http is accepted only for loopback hosts)"
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestSchemas:
    """Validates request bodies against ``schemas/`` and reports every bad field."""

    def __init__(self, load_schema: Callable[[str], dict[str, Any]]) -> None:
        import jsonschema_rs

        self._kinds = jsonschema_rs.ValidationErrorKind
        self._validators = {
            name: jsonschema_rs.validator_for(load_schema(name))
            for name in ("agent-request", "lab-results-request")
        }

    def errors(self, schema_name: str, instance: Any) -> list[FieldError]:
        validator = self._validators[schema_name]
        if validator.is_valid(instance):
            return []
        found: list[FieldError] = []
        for error in validator.iter_errors(instance):
            path = list(error.instance_path)
            kind = error.kind
            if isinstance(kind, self._kinds.Required):
                found.append(FieldError(field_path([*path, kind.property]), "is required"))
            elif isinstance(kind, self._kinds.AdditionalProperties):
                found.extend(
                    FieldError(field_path([*path, name]), "is not an allowed field")
                    for name in kind.unexpected
                )
            else:
                found.append(FieldError(field_path(path), error.message))
        return found
