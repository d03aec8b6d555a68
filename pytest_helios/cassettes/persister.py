"""The on-disk format: readable YAML with provenance, read strictly, written atomically.

A cassette file looks like this (bodies decompressed, JSON laid out sorted and indented so a
re-recording shows a reviewable diff, volatile headers already dropped by the scrubber)::

    # pytest-helios cassette. Secrets are redacted and patient identifiers pseudonymized.
    helios:
      format: 1
      recorded_at: '2026-11-26T15:00:00Z'
      target: emulator
      plugin_version: 0.1.0
      schemas: sha256:0123456789ab
    interactions:
    - request:
        method: POST
        uri: https://api.heliosai.health/api/v1/agent
        headers:
          content-type:
          - application/json
          x-api-key:
          - '[REDACTED]'
        body: |-
          {
            "agentType": "light",
            ...
          }
      response:
        status:
          code: 200
          message: OK
        headers: {...}
        body:
          string: |-
            {...}

Writes go to a temporary file in the same directory, then ``os.replace``: a crash or two
xdist workers never leave a half-written cassette.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from pytest_helios.exceptions import CassetteFormatError
from pytest_helios.payloads.validation import schema_directory

FORMAT = 1
HEADER = (
    "# pytest-helios cassette. Secrets are redacted and patient identifiers pseudonymized.\n"
    "# Check it with: helios-cassettes lint <this file>\n"
)


#: libyaml's loader when PyYAML was built with it (several times faster). Writing keeps the
#: Python emitter: libyaml's quotes and escapes any body with an emoji, the Python one keeps
#: it as a readable literal block.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so bodies read (and diff) line by line; never an
    anchor or alias (a cassette holds none: see `load_yaml`)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    if len(text) != 20 or text[10] != "T" or text[-1] != "Z":  # exactly as written
        raise ValueError(f"time data {text!r} does not match format '%Y-%m-%dT%H:%M:%SZ'")
    return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.timezone.utc)


def schemas_fingerprint() -> str:
    """A short hash of the shipped schema files: which contract the cassette was recorded under."""
    digest = hashlib.sha256()
    for path in sorted(schema_directory().glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"sha256:{digest.hexdigest()[:12]}"


def provenance(target: str) -> dict[str, Any]:
    import pytest_helios

    return {
        "format": FORMAT,
        "recorded_at": format_time(utc_now()),
        "target": target,
        "plugin_version": pytest_helios.__version__,
        "schemas": schemas_fingerprint(),
    }


def dump(document: Mapping[str, Any]) -> bytes:
    """The exact bytes of a cassette or capture document."""
    text = yaml.dump(
        dict(document),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1_000_000,
        default_flow_style=False,
    )
    return (HEADER + text).encode("utf-8")


#: A temporary file of a killed writer is removed once it is this old (seconds): no write
#: of one cassette lasts that long, so the file of a live writer elsewhere is never touched.
STALE_AFTER = 600.0


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The data goes to a hidden ``.<name>.<pid>.<random>.tmp`` beside ``path``, then replaces
    it. A writer killed before the replace leaves that file behind; the next successful write
    of the same cassette removes it (see :func:`remove_stale_temporary_files`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  # closed below, then renamed
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise
    remove_stale_temporary_files(path)


def remove_stale_temporary_files(path: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writes of ``path`` left; return them.

    A file counts as left behind when the process that named it no longer exists and it was
    last written :data:`STALE_AFTER` seconds ago or more; any other file is kept, and a file
    that cannot be removed is left for the next write.
    """
    now = time.time() if now is None else now
    # exactly what write_atomically names: tempfile adds 8 characters of [a-z0-9_]
    ours = re.compile(rf"\.{re.escape(path.name)}\.([0-9]+)\.[a-z0-9_]{{8}}\.tmp", re.ASCII)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    for entry in entries:
        named = ours.fullmatch(entry.name)
        if named is None or _process_exists(int(named.group(1))):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would end it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # it exists but is not ours, or the number is not a process id here
    return True


def _require(condition: bool, path: Path, problem: str) -> None:
    if not condition:
        raise CassetteFormatError(path, problem)


def _check_headers(path: Path, where: str, headers: Any) -> None:
    _require(isinstance(headers, dict), path, f"{where} headers must be a mapping")
    for name, values in headers.items():
        _require(
            isinstance(values, list) and all(isinstance(v, str) for v in values),
            path,
            f"{where} header {name!r} must be a list of strings",
        )


#: The largest cassette file read (bytes): reading stays bounded in time and memory.
MAX_CASSETTE_BYTES = 64 * 1024 * 1024
#: Where an anchor (``&a``) or an alias (``*a``) may start; only then are events checked.
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s\[{,:])[&*][^\s\[\]{},]", re.MULTILINE)


def load_yaml(data: bytes, path: Path | str) -> Any:
    """The YAML document in ``data``, read in bounded time and memory, or a
    CassetteFormatError naming ``path``: more than MAX_CASSETTE_BYTES, not UTF-8, not YAML,
    nested too deeply, or holding an anchor or alias (a cassette never does; an alias bomb
    or a recursive alias would otherwise hang or crash whoever walks the result)."""
    if len(data) > MAX_CASSETTE_BYTES:
        raise CassetteFormatError(
            path, f"larger than {MAX_CASSETTE_BYTES:,} bytes, the most a cassette may hold"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CassetteFormatError(path, f"not UTF-8 text ({error.reason})") from None
    try:
        if _MAYBE_ANCHOR.search(text) and _has_anchor(text):
            raise CassetteFormatError(
                path, "YAML anchors or aliases (&name, *name), which a cassette never holds"
            )
        return yaml.load(text, Loader=SafeLoader)  # a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise CassetteFormatError(path, f"invalid YAML: {where}{problem}") from None
    except RecursionError:
        raise CassetteFormatError(path, "YAML nested too deeply to read") from None


def _has_anchor(text: str) -> bool:
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            return True
    return False


def read_file(path: Path) -> bytes:
    """A cassette file's bytes, refusing (CassetteFormatError) one too large to read."""
    if path.stat().st_size > MAX_CASSETTE_BYTES:
        raise CassetteFormatError(
            path, f"larger than {MAX_CASSETTE_BYTES:,} bytes, the most a cassette may hold"
        )
    return path.read_bytes()


def read_document(path: Path, *, items: str = "interactions") -> dict[str, Any]:
    """Parse and check a cassette file (``items="deliveries"``: a webhook capture file);
    any problem is a CassetteFormatError naming the file."""
    return check_document(load_yaml(read_file(path), path), path, items=items)


def check_document(document: Any, path: Path, *, items: str = "interactions") -> dict[str, Any]:
    """``document`` if it is a well-formed cassette (or capture), else CassetteFormatError."""
    _require(isinstance(document, dict), path, "not a mapping at the top level")
    meta = document.get("helios")
    _require(
        isinstance(meta, dict),
        path,
        "not a pytest-helios cassette (no 'helios' provenance section); "
        "re-record it with pytest-helios",
    )
    _require(
        meta.get("format") == FORMAT,
        path,
        f"unsupported cassette format {meta.get('format')!r} (this version reads {FORMAT})",
    )
    recorded_at = meta.get("recorded_at")
    try:
        parse_time(str(recorded_at))
    except ValueError:
        raise CassetteFormatError(
            path, f"recorded_at {recorded_at!r} is not a UTC time like 2026-01-31T12:00:00Z"
        ) from None
    if items == "deliveries":
        deliveries = document.get("deliveries")
        _require(isinstance(deliveries, list), path, "'deliveries' must be a list")
        for index, delivery in enumerate(deliveries):
            _require(
                isinstance(delivery, dict)
                and isinstance(delivery.get("run_id"), str)
                and isinstance(delivery.get("body"), str),
                path,
                f"delivery {index} needs a 'run_id' and a 'body' string",
            )
        return cast(dict[str, Any], document)
    interactions = document.get("interactions")
    _require(isinstance(interactions, list), path, "'interactions' must be a list")
    for index, interaction in enumerate(interactions):
        where = f"interaction {index}"
        _require(
            isinstance(interaction, dict)
            and isinstance(interaction.get("request"), dict)
            and isinstance(interaction.get("response"), dict),
            path,
            f"{where} must have a 'request' and a 'response' mapping",
        )
        request, response = interaction["request"], interaction["response"]
        _require(
            isinstance(request.get("method"), str) and isinstance(request.get("uri"), str),
            path,
            f"{where} request needs a 'method' and a 'uri'",
        )
        _check_headers(path, f"{where} request", request.get("headers", {}))
        status = response.get("status")
        _require(
            isinstance(status, dict) and isinstance(status.get("code"), int),
            path,
            f"{where} response needs 'status: {{code: <int>}}'",
        )
        _check_headers(path, f"{where} response", response.get("headers", {}))
        body = response.get("body")
        _require(
            isinstance(body, dict) and isinstance(body.get("string", ""), (str, bytes)),
            path,
            f"{where} response needs 'body: {{string: ...}}'",
        )
    return cast(dict[str, Any], document)
