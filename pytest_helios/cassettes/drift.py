"""``helios-cassettes drift OLD NEW``: what changed between two recordings, in the contract's
terms, not as a text diff.

Cassettes are paired by their path under OLD and NEW, interactions and webhook deliveries by
their position. For each pair it reports a status code that changed, a response header that
went missing or appeared (by name: values such as dates and slot counts vary on every run), and
for every JSON body the *shape*: a field that appeared or disappeared at a JSON path, or a value
whose type changed. Items of an array are merged into one shape (``$.labResults[*]``), so a
longer list is no drift but a new field in any item is. Exit status 1 when anything drifted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_helios.cassettes.persister import read_document
from pytest_helios.exceptions import CassetteFormatError

_CAPTURE = ".webhooks.yaml"
#: JSON type names as the contract speaks of them
_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def _type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return _TYPES.get(type(value), type(value).__name__)


def shape(
    value: Any, path: str = "$", into: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """Every JSON path of ``value`` with the types seen there (array items merged as ``[*]``)."""
    found: dict[str, set[str]] = {} if into is None else into
    found.setdefault(path, set()).add(_type(value))
    if isinstance(value, dict):
        for key, item in value.items():
            shape(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        for item in value:
            shape(item, f"{path}[*]", found)
    return found


def _json(text: Any) -> Any:
    if isinstance(text, dict):  # a response body is stored as {"string": ...}
        text = text.get("string")
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def shape_drift(old: Any, new: Any, where: str) -> Iterator[str]:
    """The fields that appeared or disappeared, and the types that changed, old to new."""
    if old is None or new is None:
        return
    before, after = shape(old), shape(new)
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            yield f"{where}: field {path} disappeared"
        elif path not in before:
            yield f"{where}: field {path} appeared ({'/'.join(sorted(after[path]))})"
        elif before[path] != after[path]:
            was, now = "/".join(sorted(before[path])), "/".join(sorted(after[path]))
            yield f"{where}: {path} changed type: {was} -> {now}"


def _headers(response: dict[str, Any]) -> set[str]:
    return {str(name).lower() for name in (response.get("headers") or {})}


def _interaction_drift(name: str, index: int, old: Any, new: Any) -> Iterator[str]:
    request = new.get("request") or {}
    uri = str(request.get("uri", ""))
    path = uri.split("://", 1)[-1].partition("/")[2]
    where = f"{name} #{index + 1} ({request.get('method', '?')} /{path})"
    old_response, new_response = old.get("response") or {}, new.get("response") or {}
    was = (old_response.get("status") or {}).get("code")
    now = (new_response.get("status") or {}).get("code")
    if was != now:
        yield f"{where}: status {was} -> {now}"
    before, after = _headers(old_response), _headers(new_response)
    for header in sorted(before - after):
        yield f"{where}: response header {header} went missing"
    for header in sorted(after - before):
        yield f"{where}: response header {header} appeared"
    yield from shape_drift(
        _json((old.get("request") or {}).get("body")),
        _json(request.get("body")),
        f"{where} request",
    )
    yield from shape_drift(
        _json(old_response.get("body")), _json(new_response.get("body")), f"{where} response"
    )


def _delivery_drift(name: str, index: int, old: Any, new: Any) -> Iterator[str]:
    old_body, new_body = _json(old.get("body")), _json(new.get("body"))
    kind = new_body.get("status", "?") if isinstance(new_body, dict) else "?"
    yield from shape_drift(old_body, new_body, f"{name} webhook #{index + 1} ({kind})")


def _files(root: Path) -> dict[str, Path]:
    if root.is_file():
        return {root.name: root}
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.yaml"))}


def drift(old_root: Path, new_root: Path) -> list[str]:
    """Every drift between the recordings under ``old_root`` and ``new_root``."""
    old_files, new_files = _files(old_root), _files(new_root)
    found = [f"{name}: cassette disappeared" for name in sorted(old_files.keys() - new_files)]
    found += [f"{name}: cassette appeared" for name in sorted(new_files.keys() - old_files)]
    for name in sorted(old_files.keys() & new_files.keys()):
        capture = name.endswith(_CAPTURE)
        items = "deliveries" if capture else "interactions"
        what = "webhook" if capture else "interaction"
        compare: Callable[[str, int, Any, Any], Iterator[str]] = (
            _delivery_drift if capture else _interaction_drift
        )
        old = read_document(old_files[name], items=items)[items]
        new = read_document(new_files[name], items=items)[items]
        for index, (was, now) in enumerate(zip(old, new, strict=False)):
            found += compare(name, index, was, now)
        if len(old) != len(new):
            found.append(f"{name}: {len(old)} {what}s -> {len(new)}")
    return found


def main(old: Path, new: Path, write: Callable[[str], None]) -> int:
    """Print the drift between two recordings; 1 when anything drifted, 2 on a bad input."""
    for root in (old, new):
        if not root.exists():
            write(f"helios-cassettes drift: {root} does not exist")
            return 2
    try:
        found = drift(old, new)
    except CassetteFormatError as error:
        write(f"helios-cassettes drift: {error}")
        return 2
    if not found:
        write(f"no drift: {len(_files(new))} cassette files compared")
        return 0
    for line in found:
        write(line)
    write(f"{len(found)} changes between {old} and {new}")
    return 1
