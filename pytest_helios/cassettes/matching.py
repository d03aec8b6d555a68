"""Request matching (method, path, query, canonical JSON body) and the miss message.

Requests are matched after scrubbing, on both sides, so the host (emulator, proxy or the
live API), secrets, run-local values and pseudonymized identifiers never cause a miss, and
two JSON bodies match whenever they hold the same data in any key order or layout.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from pytest_helios.masking import shorten

_MISSING = object()


class RequestLike(Protocol):
    method: str
    uri: str

    @property
    def body(self) -> Any: ...


def canonical_body(body: object) -> str | bytes:
    """JSON bodies as sorted compact JSON; other bodies as they are; no body as ``b""``."""
    if body is None:
        return b""
    if hasattr(body, "read"):
        body = body.read()
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not isinstance(raw, bytes):
        return repr(raw)
    return _canonical_bytes(raw)


@functools.lru_cache(maxsize=256)
def _canonical_bytes(raw: bytes) -> str | bytes:
    # Matching compares the same bodies again and again (each matcher call, each recorded
    # interaction): parse each distinct body once.
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return raw


def _path(uri: str) -> str:
    return urlsplit(uri).path or "/"


def _query(uri: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(urlsplit(uri).query, keep_blank_values=True))


# The matchers vcrpy calls raise a plain AssertionError (its matcher protocol), never with
# ``assert``: pytest rewrites the asserts of a plugin's modules, so every candidate that does
# not match would run the assertion-repr hooks (a difflib diff of two bodies). They match
# exactly when :func:`match_key` is equal, which is how the cassette finds a request.


def method(r1: RequestLike, r2: RequestLike) -> None:
    if r1.method.upper() != r2.method.upper():
        raise AssertionError(f"{r1.method} != {r2.method}")


def path(r1: RequestLike, r2: RequestLike) -> None:
    if _path(r1.uri) != _path(r2.uri):
        raise AssertionError(f"{_path(r1.uri)} != {_path(r2.uri)}")


def query(r1: RequestLike, r2: RequestLike) -> None:
    if _query(r1.uri) != _query(r2.uri):
        raise AssertionError(f"{_query(r1.uri)} != {_query(r2.uri)}")


def json_body(r1: RequestLike, r2: RequestLike) -> None:
    if canonical_body(r1.body) != canonical_body(r2.body):
        raise AssertionError("bodies differ")


MATCHERS = (method, path, query, json_body)

#: What :data:`MATCHERS` compare, as one hashable value: method, path, query, canonical body.
MatchKey = tuple[str, str, tuple[tuple[str, str], ...], str | bytes]


def match_key(request: RequestLike) -> MatchKey:
    """Two requests pass every matcher of :data:`MATCHERS` exactly when their keys are equal,
    so recorded requests can be found by key instead of tried one by one."""
    parts = urlsplit(request.uri)
    return (
        request.method.upper(),
        parts.path or "/",
        tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))),
        canonical_body(request.body),
    )


@dataclass(frozen=True)
class Recorded:
    """A recorded request as the miss message sees it."""

    index: int
    method: str
    uri: str
    body: object
    played: bool


def _short(value: object) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, bytes) else repr(value)
    return shorten(text, 60)


def json_differences(asked: object, recorded: object, where: str = "$") -> list[str]:
    """Where two JSON values differ, as ``$.a.b: asked X, recorded Y`` lines."""
    if isinstance(asked, dict) and isinstance(recorded, dict):
        lines: list[str] = []
        for key in sorted(set(asked) | set(recorded), key=str):
            lines += json_differences(
                asked.get(key, _MISSING), recorded.get(key, _MISSING), f"{where}.{key}"
            )
        return lines
    if isinstance(asked, list) and isinstance(recorded, list) and len(asked) == len(recorded):
        lines = []
        for index, (a, r) in enumerate(zip(asked, recorded, strict=True)):
            lines += json_differences(a, r, f"{where}[{index}]")
        return lines
    if asked == recorded and type(asked) is type(recorded):
        return []
    return [f"{where}: asked {_short(asked)}, recorded {_short(recorded)}"]


def _body_differences(asked: object, recorded: object) -> list[str]:
    a, r = canonical_body(asked), canonical_body(recorded)
    if a == r:
        return []
    if isinstance(a, str) and isinstance(r, str):
        return json_differences(json.loads(a), json.loads(r))
    return ["body: the bodies differ (not both JSON)"]


def differences(asked: RequestLike, recorded: Recorded) -> list[str]:
    lines = []
    if asked.method.upper() != recorded.method.upper():
        lines.append(f"method: asked {asked.method}, recorded {recorded.method}")
    if _path(asked.uri) != _path(recorded.uri):
        lines.append(f"path: asked {_path(asked.uri)}, recorded {_path(recorded.uri)}")
    if _query(asked.uri) != _query(recorded.uri):
        lines.append(f"query: asked {_query(asked.uri)}, recorded {_query(recorded.uri)}")
    return lines + [f"body {line}" for line in _body_differences(asked.body, recorded.body)]


def closest(asked: RequestLike, recorded: Sequence[Recorded]) -> tuple[Recorded, list[str]] | None:
    """The recorded request nearest to ``asked`` (fewest differences, unplayed first)."""
    if not recorded:
        return None
    weight = {"method": 3, "path": 3}
    scored = []
    for r in recorded:
        diff = differences(asked, r)
        score = sum(weight.get(line.split(":", 1)[0], 1) for line in diff)
        scored.append((score, r.played, r.index, r, diff))
    best = min(scored, key=lambda t: (t[0], t[1], t[2]))
    return best[3], best[4]


def rerun_command(test: str, mode: str) -> str:
    """The command that runs ``test`` (a pytest argument, see ``command_target``) in ``mode``."""
    return f"pytest {shlex.quote(test)} --helios-record-mode={mode}"


def record_command(test: str, cassette_exists: bool) -> str:
    return rerun_command(test, "new_episodes" if cassette_exists else "once")


def command_target(nodeid: str, path: str | os.PathLike[str], invocation_dir: Path) -> str:
    """The test as a ``pytest`` argument that works from ``invocation_dir``, where pytest was
    started: its file relative to that directory (the node id is relative to the rootdir),
    then the rest of the node id."""
    _, separator, rest = nodeid.partition("::")
    try:
        where = os.path.relpath(path, invocation_dir)
    except ValueError:  # another drive (Windows): no relative path exists
        where = str(path)
    return f"{where}{separator}{rest}"


def miss_message(
    *,
    asked: RequestLike,
    recorded: Sequence[Recorded],
    cassette: str,
    cassette_exists: bool,
    record_mode: str,
    test: str,
) -> str:
    """What was asked, what came closest, and the exact command that records it (``test``:
    the test as a pytest argument, see :func:`command_target`)."""
    lines = [f"helios: no recorded response for {asked.method} {asked.uri}"]
    if cassette_exists:
        lines.append(
            f"  cassette:  {cassette} ({len(recorded)} interaction"
            f"{'s' if len(recorded) != 1 else ''}, record mode {record_mode})"
        )
    else:
        lines.append(f"  cassette:  {cassette} does not exist (record mode {record_mode})")
    body = canonical_body(asked.body)
    if body:
        shown = body if isinstance(body, str) else repr(body)
        lines.append(f"  asked:     {asked.method} {_path(asked.uri)} {shorten(shown, 120)}")
    else:
        lines.append(f"  asked:     {asked.method} {_path(asked.uri)}")
    nearest = closest(asked, recorded)
    if nearest is not None:
        match, diff = nearest
        if not diff and match.played:
            lines.append(
                f"  closest:   interaction {match.index} matches but was already played "
                "(the test sends this request more often than when it was recorded)"
            )
        else:
            lines.append(
                f"  closest:   interaction {match.index}: {match.method} {_path(match.uri)}"
            )
            lines += [f"             {line}" for line in diff[:5]]
            if len(diff) > 5:
                lines.append(f"             ... and {len(diff) - 5} more differences")
    lines.append(f"  record it: {record_command(test, cassette_exists)}")
    if cassette_exists:
        lines.append("             (or --helios-record-mode=rewrite to record the cassette afresh)")
    return "\n".join(lines)
