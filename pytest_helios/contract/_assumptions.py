"""Every ``x-helios-assumed`` spot of the schemas, and which of them a payload exercised.

An assumption is named by where it is written: ``<schema file>#<JSON pointer>``, e.g.
``unauthorized-error.json#`` or ``definitions.json#/$defs/labDate``. Whether an observed payload
exercised an assumption is decided against the schemas themselves: the assumed subschema is
replaced by one that refuses everything, and if the payload's validation changes, the assumed
part applied to it. A violation whose keyword is written inside an assumed subschema (the
innermost one) contradicts that assumption.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pytest_helios.payloads.validation import BASE_URI, schema_directory

MARK = "x-helios-assumed"
_KEPT = ("$id", "$schema", "$defs")


@dataclass(frozen=True)
class Assumption:
    """One assumed choice: where it is written and what the schema says about it."""

    location: str
    description: str

    @property
    def file(self) -> str:
        return self.location.partition("#")[0]

    @property
    def pointer(self) -> str:
        return self.location.partition("#")[2]

    def owns(self, schema_location: str) -> bool:
        """Whether a keyword written at ``schema_location`` lies inside this assumption."""
        if self.pointer == "":
            return schema_location.startswith(self.location)
        return schema_location == self.location or schema_location.startswith(self.location + "/")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _walk(node: Any, pointer: str, file: str) -> Iterator[Assumption]:
    if isinstance(node, dict):
        if node.get(MARK) is True:
            yield Assumption(f"{file}#{pointer}", str(node.get("description", "")))
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{_escape(key)}", file)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{pointer}/{index}", file)


@functools.cache
def _documents() -> dict[str, Any]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(schema_directory().glob("*.json"))
    }


@functools.cache
def all_assumptions() -> tuple[Assumption, ...]:
    """Every ``x-helios-assumed`` subschema of every schema file, in file order."""
    return tuple(a for file, doc in _documents().items() for a in _walk(doc, "", file))


def owner(schema_location: str) -> Assumption | None:
    """The innermost assumption a violated keyword is written in, if any."""
    owners = [a for a in all_assumptions() if a.owns(schema_location)]
    return max(owners, key=lambda a: len(a.location)) if owners else None


def _knock_out(document: Any, pointer: str) -> Any:
    """A copy of ``document`` whose subschema at ``pointer`` refuses every instance."""
    copied = json.loads(json.dumps(document))
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    parent: Any = None
    node: Any = copied
    for part in parts:
        parent, node = node, node[int(part) if isinstance(node, list) else part]
    refusing = {key: node[key] for key in _KEPT if key in node}
    refusing["not"] = {}
    if parent is None:
        return refusing
    parent[int(parts[-1]) if isinstance(parent, list) else parts[-1]] = refusing
    return copied


@functools.cache
def _validators(location: str) -> tuple[Any, dict[str, Any]]:
    import jsonschema_rs

    file, _, pointer = location.partition("#")
    documents = dict(_documents())
    if location:
        documents[file] = _knock_out(documents[file], pointer)
    registry = jsonschema_rs.Registry([(BASE_URI + name, doc) for name, doc in documents.items()])
    return registry, documents


@functools.cache
def _validator(location: str, schema_name: str) -> Any:
    import jsonschema_rs

    registry, documents = _validators(location)
    return jsonschema_rs.Draft202012Validator(
        documents[f"{schema_name}.json"],
        registry=registry,
        validate_formats=True,
        ignore_unknown_formats=False,
    )


def _outcome(location: str, schema_name: str, instance: object) -> frozenset[tuple[str, str]]:
    validator = _validator(location, schema_name)
    return frozenset(
        (json.dumps(list(error.instance_path)), str(error.absolute_keyword_location))
        for error in validator.iter_errors(instance)
    )


def exercised(schema_name: str, instance: object) -> list[Assumption]:
    """The assumptions that took part in validating ``instance`` against ``schema_name``."""
    baseline = _outcome("", schema_name, instance)
    return [a for a in all_assumptions() if _outcome(a.location, schema_name, instance) != baseline]
