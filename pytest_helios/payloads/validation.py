"""Contract checks: validate Helios payloads against the JSON Schemas in ``schemas/``.

``validate(schema_name, instance)`` checks one payload with jsonschema-rs (a Rust implementation
of JSON Schema 2020-12); each schema's validator is built once and cached. Formats are checked
(uuid, date-time, uri, date). A failure raises :class:`ContractViolation`, which names the schema,
the JSON path, the failing keyword and the offending value, cut short: never the whole body, and
never a value it must not show. A field the schemas mark ``"x-helios-identifying": true`` (or
anything inside one) is shown by its type and shape (``<string, 15 characters>``), a key-shaped
string (``sk_live_...``, ``whsec_...``) as ``[REDACTED]``; ``validate(..., sensitive=...)`` names
more such fields.

jsonschema-rs is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_helios.exceptions import ContractViolation
from pytest_helios.masking import KEY_SHAPED, shorten

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

#: What a violation shows in place of a secret, or of a key-shaped string within a value.
REDACTED = "[REDACTED]"
#: ``validate``'s ``sensitive``: for a path (keys, and ``[n]`` for indexes), ``"identifying"``
#: (show the value's type and shape only), ``"secret"`` (show ``[REDACTED]``) or ``None``.
Sensitivity = Callable[[tuple[str, ...]], "str | None"]
IDENTIFYING = "identifying"
SECRET = "secret"


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
    """The offending value as a message may show it, cut short to about 80 characters: its
    ``repr``, with a value at an identifying field as its type and shape (``<string, 15
    characters>``) and a secret or key-shaped string as ``[REDACTED]``."""
    schema_path: str
    """JSON pointer of the failing keyword, followed from the schema's root through ``$ref``,
    e.g. ``/properties/runId/$ref/format``."""
    schema_location: str = ""
    """Schema file and pointer where that keyword is written, e.g.
    ``definitions.json#/$defs/runId/format``."""

    def describe(self) -> str:
        return f"at {self.path}: keyword '{self.keyword}': {self.message}; value: {self.value}"


def validate(schema_name: str, instance: object, *, sensitive: Sensitivity | None = None) -> None:
    """Check ``instance`` (a parsed JSON payload) against the schema ``schema_name``.

    Returns ``None`` when it conforms; raises :class:`ContractViolation` otherwise, and
    ``ValueError`` for a name that is not in :data:`SCHEMA_NAMES`. A violation never shows the
    value of a field the schemas mark identifying, nor a key-shaped string; ``sensitive(path)``
    may name more fields, ``"identifying"`` or ``"secret"``, by their path (a tuple of keys, with
    ``"[0]"`` for an index).
    """
    __tracebackhide__ = True
    validator = _validator(_check_name(schema_name))
    shown = _Shown(sensitive)
    try:
        if validator.is_valid(instance):
            return
        errors = list(validator.iter_errors(instance))
    except (ValueError, TypeError, OverflowError) as exc:
        # jsonschema-rs refuses values that JSON cannot carry (sets, bytes, datetimes, ...)
        raise ContractViolation(schema_name, [_not_json(instance, exc, shown)]) from None
    raise ContractViolation(schema_name, [_violation(e, instance, shown) for e in errors])


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
    """``repr(value)`` cut to at most ``limit`` characters (ending in ``...`` when cut), with
    every key-shaped string in it ``[REDACTED]``."""
    try:
        text = repr(value)
    except Exception:  # a user object whose __repr__ fails must not hide the violation
        text = f"<{type(value).__name__} object>"
    return shorten(_unkeyed(text), limit)


def _unkeyed(text: str) -> str:
    return KEY_SHAPED.sub(REDACTED, text)


# --- what a violation shows of a value ---------------------------------------------------------


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


def _segments(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


def _matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Whether ``path`` matches ``pattern``: ``*`` is one key or index, ``**`` any number."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and head in ("*", path[0]) and _matches(rest, path[1:])


@functools.cache
def identifying_paths() -> tuple[str, ...]:
    """Paths (``**.patientContext.name``, ``**.labResults.*.notes``) the schemas mark identifying.

    Each is anchored anywhere (``**.`` prefix) so the same field inside a webhook payload or
    an error body is covered too.
    """
    found: set[str] = set()
    loaded: dict[str, Any] = {}

    def load(name: str) -> Mapping[str, Any]:
        if name not in loaded:
            loaded[name] = json.loads((schema_directory() / name).read_text("utf-8"))
        schema: Mapping[str, Any] = loaded[name]
        return schema

    for file in _schema_files():
        try:
            schema = load(file.name)
        except (OSError, ValueError):
            continue
        found.update(f"**.{path}" for path in identifying_paths_in(schema, load))
    return tuple(sorted(found))


@functools.cache
def _marked_identifying() -> tuple[tuple[str, ...], ...]:
    return tuple(_segments(pattern) for pattern in identifying_paths())


def _marked(path: tuple[str, ...]) -> str | None:
    return IDENTIFYING if any(_matches(p, path) for p in _marked_identifying()) else None


def identifying_values(instance: object) -> dict[str, str]:
    """Every string of ``instance`` in a field the schemas mark identifying (or inside one),
    by its JSON path: ``{"$.patientContext.name": "Jane Roe"}``."""
    found: dict[str, str] = {}
    pending: list[tuple[object, tuple[str | int, ...], bool]] = [(instance, (), False)]
    while pending:
        node, parts, inside = pending.pop()
        path = tuple(f"[{p}]" if isinstance(p, int) else p for p in parts)
        inside = inside or _marked(path) is not None
        if isinstance(node, Mapping):
            pending.extend((v, (*parts, str(k)), inside) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            pending.extend((v, (*parts, i), inside) for i, v in enumerate(node))
        elif inside and isinstance(node, str) and node:
            found[json_path(parts)] = node
    return found


_SHAPES: tuple[tuple[type | tuple[type, ...], str, str], ...] = (
    (str, "string", "character"),
    (Mapping, "object", "property"),
    ((list, tuple), "array", "item"),
)


def _shape(value: object) -> str:
    """A value's type and size, never its content: ``<string, 15 characters>``."""
    for kind, name, unit in _SHAPES:
        if isinstance(value, kind):
            return f"<{name}, {_count(len(value), unit)}>"  # type: ignore[arg-type]
    return f"<{_json_type(value)}>"


class _Shown:
    """Renders offending values as a violation may show them (see :class:`Violation`)."""

    def __init__(self, sensitive: Sensitivity | None) -> None:
        self._sensitive = sensitive

    def kind(self, path: tuple[str, ...]) -> str | None:
        marked = _marked(path)
        if marked is None and self._sensitive is not None:
            marked = self._sensitive(path)
        return marked

    def value(self, value: object, parts: Iterable[str | int], limit: int = VALUE_LIMIT) -> str:
        """``value`` found at ``parts``, cut to ``limit`` characters."""
        path = tuple(f"[{p}]" if isinstance(p, int) else p for p in parts)
        # a value inside an identifying or secret field is as hidden as the field
        inside = next((k for i in range(len(path) + 1) if (k := self.kind(path[:i]))), None)
        text, size = [], 0
        for piece in self._pieces(value, path, inside):
            text.append(piece)
            size += len(piece)
            if size > limit:
                break
        return shorten("".join(text), limit)

    def _pieces(self, value: object, path: tuple[str, ...], kind: str | None) -> Iterator[str]:
        """The rendering of ``value`` piece by piece (the caller stops once it has enough)."""
        if kind == SECRET:
            yield repr(REDACTED)
        elif kind == IDENTIFYING:
            yield _shape(value)
        elif isinstance(value, Mapping):
            yield "{"
            for index, (key, item) in enumerate(value.items()):
                yield (", " if index else "") + _unkeyed(repr(key)) + ": "
                child = (*path, str(key))
                yield from self._pieces(item, child, self.kind(child))
            yield "}"
        elif isinstance(value, (list, tuple)):
            yield "["
            for index, item in enumerate(value):
                child = (*path, f"[{index}]")
                yield (", " if index else "")
                yield from self._pieces(item, child, self.kind(child))
            yield "]"
        elif isinstance(value, str):
            yield repr(_unkeyed(value))
        elif value is None or isinstance(value, (bool, int, float)):
            yield repr(value)
        else:  # not JSON (a set, bytes, an object): its type, never its content
            yield f"<{type(value).__name__} object>"


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
    "not": lambda facts: "matches a form that is not allowed",
    "uniqueItems": lambda facts: "has items that are not unique",
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
    # jsonschema-rs's own message quotes the instance: name the keyword instead
    return f"fails the '{keyword}' keyword"


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


def _violation(error: Any, instance: object, shown: _Shown | None = None) -> Violation:
    shown = shown or _Shown(None)
    keyword: str = error.kind.name
    facts: dict[str, Any] = error.kind.as_dict()
    value = error.instance
    parts, original = _located(instance, error.instance_path)
    at = list(parts)
    if keyword == "propertyNames":
        value = facts["error"].instance
        at.append(str(value))
    message = _detail(keyword, facts, error)
    # jsonschema-rs reads a float NaN or infinity as null: name what was really there
    if value is None and isinstance(original, float) and not math.isfinite(original):
        value = original
        message = f"{original!r} is not a JSON number (JSON has no NaN or Infinity)"
    return Violation(
        path=json_path(parts),
        keyword=keyword,
        message=message,
        value=shown.value(value, at),
        schema_path=_pointer(error.evaluation_path),
        schema_location=str(error.absolute_keyword_location or "").removeprefix(BASE_URI),
    )


def _not_json(instance: object, exc: Exception, shown: _Shown) -> Violation:
    return Violation(
        path="$",
        keyword="json",
        message=f"not a JSON value ({short_repr(str(exc), 120)})",
        value=shown.value(instance, ()),
        schema_path="",
    )
