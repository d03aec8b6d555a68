"""Request checks of the two endpoints: JSON parsing, the request schemas, the webhookUrl rule.

Every problem becomes a :class:`FieldProblem` naming the field by dotted path
(``data.patientInfo.age``, ``labResults[3].value``; ``""`` for the whole body), so that a 400
lists each bad field at once.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "localhost.localdomain"})
MAX_DEPTH = 64


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of a request body (``field`` ``""``: the whole body)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class BadRequest(Exception):
    """The request cannot be accepted; ``problems`` name every bad field."""

    def __init__(self, problems: Sequence[FieldProblem], summary: str | None = None) -> None:
        super().__init__(summary or problems[0].message)
        self.summary = summary
        self.problems = list(problems)

    def body(self) -> dict[str, Any]:
        """The 400 body (``validation-error``); its message sums up the details."""
        import pytest_helios.payloads.builders as payloads

        return payloads.validation_error(
            [(e.field, e.message) for e in self.problems], self.summary
        )


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
            [FieldProblem("", f"expected Content-Type application/json, got {shown}")],
            "Content-Type must be application/json",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            [FieldProblem("", f"invalid UTF-8 byte at position {exc.start}")],
            "Request body is not valid UTF-8",
        ) from None
    if not text.strip():
        raise BadRequest([FieldProblem("", "a JSON object is required")], "Request body is empty")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(
            [FieldProblem("", f"JSON nesting deeper than {MAX_DEPTH} levels")],
            "Request body is nested too deeply",
        ) from None
    except ValueError as exc:
        raise BadRequest(
            [FieldProblem("", str(exc).split(":")[0])], "Request body is not valid JSON"
        ) from None
    # a body with few brackets cannot be deep: skip the walk for every ordinary request
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise BadRequest(
            [FieldProblem("", f"JSON nesting deeper than {MAX_DEPTH} levels")],
            "Request body is nested too deeply",
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
    if not is_loopback(host):
        return "must use https (http is accepted only for loopback hosts)"
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) is this machine's loopback."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_REQUIRED = re.compile(r"missing required property (.+)")


def schema_errors(schema_name: str, instance: Any) -> list[FieldProblem]:
    """Every way ``instance`` breaks the request schema ``schema_name``, one per field.

    The wording is :mod:`pytest_helios.payloads.validation`'s; a missing required property is
    reported under its own path (``data``), not under the object that lacks it.
    """
    from pytest_helios.payloads import validation

    try:
        validation.validate(schema_name, instance)
    except validation.ContractViolation as exc:
        return [_field_problem(v.path, v.keyword, v.message) for v in exc.violations]
    return []


def _field_problem(path: str, keyword: str, message: str) -> FieldProblem:
    field = path.removeprefix("$").removeprefix(".")
    if keyword == "required":
        match = _REQUIRED.fullmatch(message)
        if match:
            name = ast.literal_eval(match.group(1))
            field = f"{field}.{name}" if field else str(name)
            return FieldProblem(field, "is required")
    return FieldProblem(field, message)
