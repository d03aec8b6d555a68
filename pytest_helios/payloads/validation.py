"""Contract checks: validate Helios payloads against the JSON Schemas in ``schemas/``.

``validate(schema_name, instance)`` checks one payload with jsonschema-rs (a Rust implementation
of JSON Schema 2020-12); each schema's validator is built once and cached. Formats are checked
(uuid, date-time, uri, date). A failure raises :class:`ContractViolation`, which names the schema,
the JSON path, the failing keyword and the offending value, cut short: never the whole body.

jsonschema-rs is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_helios.exceptions import ContractViolation
from pytest_helios.masking import shorten

__all__ = [
    "SCHEMA_NAMES",
    "ContractViolation",
    "Violation",
    "load_schema",
    "schema_directory",
    "validate",
]

#: Every schema name :func:`validate` accepts, one ``schemas/<name>.json`` file each.
SCHEMA_NAMES: tuple[str, ...] = (
    "agent-request",
    "lab-results-request",
    "accepted-response",
    "validation-error",
    "unauthorized-error",
    "rate-limit-error",
    "webhook-ehr-completed",
    "webhook-lab-results-completed",
    "webhook-error",
    "webhook-status-update",
    "webhook",
)


#: The base of every schema's ``$id``: ``<BASE_URI><name>.json``.
BASE_URI = "https://pytest-helios.example/schemas/"

#: How many characters of the offending value a message shows.
VALUE_LIMIT = 80
# How many violations the message lists after the first one (all are kept in ``.violations``).

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Violation:
    """One way in which a payload breaks its schema."""

    path: str
    """JSON path of the offending part of the payload, e.g. ``$.labResults[0].value``."""
    keyword: str
    """The JSON Schema keyword that failed, e.g. ``type``, ``required``, ``enum``."""
    message: str
    """What the schema expected, in a few words."""
    value: str
    """``repr`` of the offending value, cut short to about 80 characters."""
    schema_path: str
    """JSON pointer of the failing keyword, followed from the schema's root through ``$ref``,
    e.g. ``/properties/runId/$ref/format``."""
    schema_location: str = ""
    """Schema file and pointer where that keyword is written, e.g.
    ``definitions.json#/$defs/runId/format``."""

    def describe(self) -> str:
        return f"at {self.path}: keyword '{self.keyword}': {self.message}; value: {self.value}"


def validate(schema_name: str, instance: object) -> None:
    """Check ``instance`` (a parsed JSON payload) against the schema ``schema_name``.

    Returns ``None`` when it conforms; raises :class:`ContractViolation` otherwise, and
    ``ValueError`` for a name that is not in :data:`SCHEMA_NAMES`.
    """
    __tracebackhide__ = True
    validator = _validator(_check_name(schema_name))
    try:
        if validator.is_valid(instance):
            return
        errors = list(validator.iter_errors(instance))
    except (ValueError, TypeError, OverflowError) as exc:
        # jsonschema-rs refuses values that JSON cannot carry (sets, bytes, datetimes, ...)
        raise ContractViolation(schema_name, [_not_json(instance, exc)]) from None
    raise ContractViolation(schema_name, [_violation(error, instance) for error in errors])


def load_schema(name: str) -> dict[str, Any]:
    """Return the schema ``name`` as a self-contained dict (shared definitions bundled in).

    The result can be given to any JSON Schema 2020-12 validator, e.g.
    ``jsonschema.validate(instance, load_schema("webhook"))``. Each call returns a fresh copy.
    """
    copied: dict[str, Any] = json.loads(json.dumps(_bundled(_check_name(name))))
    return copied


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in SCHEMA_NAMES:
        raise ValueError(
            f"unknown schema name {name!r}. Valid schema names: {', '.join(SCHEMA_NAMES)}"
        )
    return name


def schema_directory() -> Path:
    """The folder the schema files are read from: inside the installed wheel, or the checkout's."""
    packaged = resources.files("pytest_helios") / "schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def _raw(name: str) -> dict[str, Any]:
    path = schema_directory() / f"{name}.json"
    with path.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@functools.cache
def _registry() -> Any:
    import jsonschema_rs

    resources = [(f"{BASE_URI}{path.name}", _raw(path.stem)) for path in _schema_files()]
    return jsonschema_rs.Registry(resources)


def _schema_files() -> list[Path]:
    return sorted(schema_directory().glob("*.json"))


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(
        _raw(name),
        registry=_registry(),
        validate_formats=True,
        ignore_unknown_formats=False,
    )


@functools.cache
def _bundled(name: str) -> dict[str, Any]:
    """The schema with every schema file it references copied in under ``$defs/<file name>``
    and each ``$ref`` rewritten to point there: one plain document, no ``$id`` to resolve, so
    any 2020-12 validator takes it as it is, and quickly."""
    embedded: dict[str, Any] = {}
    pending = list(_referenced_files(_raw(name)) - {name})
    while pending:
        other = pending.pop()
        if other in embedded:
            continue
        resource = {k: v for k, v in _raw(other).items() if k not in ("$id", "$schema")}
        embedded[other] = _rewrite(resource, other, name)
        pending.extend(_referenced_files(resource) - {name, *embedded})
    bundled: dict[str, Any] = _rewrite(_raw(name), name, name)
    defs = bundled.setdefault("$defs", {})
    clash = set(defs) & set(embedded)
    if clash:
        raise RuntimeError(f"schema {name!r}: $defs names clash with schema files: {clash}")
    defs.update(embedded)
    return bundled


def _split_ref(ref: str, owner: str) -> tuple[str, str]:
    """``"definitions.json#/$defs/runId"`` -> ``("definitions", "/$defs/runId")``."""
    file_name, _, fragment = ref.partition("#")
    return (file_name.removesuffix(".json") if file_name else owner), fragment


def _rewrite(node: Any, owner: str, root: str) -> Any:
    """A copy of ``node`` (part of schema ``owner``) with its ``$ref`` values pointing inside
    the bundle of ``root``."""
    if isinstance(node, dict):
        copied = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target, fragment = _split_ref(value, owner)
                value = "#" + fragment if target == root else f"#/$defs/{target}{fragment}"
            copied[key] = _rewrite(value, owner, root)
        return copied
    if isinstance(node, list):
        return [_rewrite(item, owner, root) for item in node]
    return node


def _referenced_files(node: object) -> set[str]:
    """The names of the other schema files that ``$ref`` values inside ``node`` point into."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                found.add(_split_ref(value, "")[0])
            else:
                found |= _referenced_files(value)
    elif isinstance(node, list):
        for item in node:
            found |= _referenced_files(item)
    return found


def json_path(parts: Iterable[str | int]) -> str:
    """Render instance-path parts as a JSON path: ``["labResults", 0, "value"]`` ->
    ``$.labResults[0].value``; keys that are not identifiers use ``['...']``."""
    rendered = ["$"]
    for part in parts:
        if isinstance(part, int):
            rendered.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            rendered.append(f".{part}")
        else:
            rendered.append("[" + _quote(part) + "]")
    return "".join(rendered)


def _quote(key: str) -> str:
    return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def short_repr(value: object, limit: int = VALUE_LIMIT) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (ending in ``...`` when cut)."""
    try:
        text = repr(value)
    except Exception:  # a user object whose __repr__ fails must not hide the violation
        text = f"<{type(value).__name__} object>"
    return shorten(text, limit)


_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (type(None), "null"),
    (Mapping, "object"),
    ((list, tuple), "array"),
)


def _json_type(value: object) -> str:
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _join(items: Iterable[object]) -> str:
    return ", ".join(short_repr(item, 40) for item in items)


_COUNTED = {
    "minItems": "item",
    "maxItems": "item",
    "minProperties": "property",
    "maxProperties": "property",
    "minLength": "character",
    "maxLength": "character",
}


def _count(number: int, noun: str) -> str:
    if number == 1:
        return f"1 {noun}"
    return f"{number} {noun[:-1]}ies" if noun.endswith("y") else f"{number} {noun}s"


_FIXED: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "required": lambda facts: f"missing required property {facts['property']!r}",
    "enum": lambda facts: f"expected one of {_join(facts['options'])}",
    "const": lambda facts: f"expected {short_repr(facts['expected_value'], 40)}",
    "format": lambda facts: f"not a valid {facts['format']}",
    "additionalProperties": lambda facts: f"unexpected properties: {_join(facts['unexpected'])}",
    "falseSchema": lambda facts: "not allowed here",
    "minimum": lambda facts: f"expected at least {facts['limit']}",
    "maximum": lambda facts: f"expected at most {facts['limit']}",
    "exclusiveMinimum": lambda facts: f"expected more than {facts['limit']}",
    "exclusiveMaximum": lambda facts: f"expected less than {facts['limit']}",
    "pattern": lambda facts: f"does not match {facts['pattern']!r}",
    "anyOf": lambda facts: "matches none of the allowed forms",
    "oneOf": lambda facts: "must match exactly one of the allowed forms",
}


def _detail(keyword: str, facts: Mapping[str, Any], error: Any) -> str:
    """A short statement of what the keyword expected (never containing the whole instance)."""
    fixed = _FIXED.get(keyword)
    if fixed is not None:
        return fixed(facts)
    instance = error.instance
    if keyword == "type":
        return f"expected {' or '.join(facts['types'])}, got {_json_type(instance)}"
    if keyword in _COUNTED:
        bound = "at least" if keyword.startswith("min") else "at most"
        return f"expected {bound} {_count(facts['limit'], _COUNTED[keyword])}, got {len(instance)}"
    if keyword == "propertyNames":
        inner = facts["error"]
        return f"property name {short_repr(inner.instance, 40)} {_detail_of(inner)}"
    return short_repr(error.message, 120).strip("'\"")


def _detail_of(error: Any) -> str:
    keyword = error.kind.name
    return _detail(keyword, error.kind.as_dict(), error)


def _located(instance: object, parts: Iterable[str | int]) -> tuple[list[str | int], object]:
    """The instance path with object keys as the strings they are, and the value found there
    (``None`` where the path leads nowhere).

    jsonschema-rs reports an object key that looks like a number (the citation maps' "1")
    as an int, like an array index; walking the instance tells the two apart.
    """
    real: list[str | int] = []
    node: Any = instance
    for part in parts:
        if isinstance(node, Mapping) and isinstance(part, int):
            key = str(part)
            if key not in node:
                key = next(
                    (k for k in node if isinstance(k, str) and k.isdigit() and int(k) == part), key
                )
            real.append(key)
            node = node.get(key)
        else:
            real.append(part)
            try:
                node = node[part]
            except (LookupError, TypeError):
                node = None
    return real, node


def _violation(error: Any, instance: object) -> Violation:
    keyword: str = error.kind.name
    facts: dict[str, Any] = error.kind.as_dict()
    value = error.instance
    if keyword == "propertyNames":
        value = facts["error"].instance
    parts, original = _located(instance, error.instance_path)
    message = _detail(keyword, facts, error)
    # jsonschema-rs reads a float NaN or infinity as null: name what was really there
    if value is None and isinstance(original, float) and not math.isfinite(original):
        value = original
        message = f"{original!r} is not a JSON number (JSON has no NaN or Infinity)"
    return Violation(
        path=json_path(parts),
        keyword=keyword,
        message=message,
        value=short_repr(value),
        schema_path=_pointer(error.evaluation_path),
        schema_location=str(error.absolute_keyword_location or "").removeprefix(BASE_URI),
    )


def _not_json(instance: object, exc: Exception) -> Violation:
    return Violation(
        path="$",
        keyword="json",
        message=f"not a JSON value ({short_repr(str(exc), 120)})",
        value=short_repr(instance),
        schema_path="",
    )
