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
import functools
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


class _Unsupported(Exception):
    """Not written the way :func:`dump` writes: :func:`load_yaml` reads it instead."""


#: ``key:`` then nothing, or one space and the value: a key as :func:`dump` writes one.
_ENTRY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_./-]*|'(?:[^'\n]|'')*'):(?: (.+))?")
#: a plain scalar as :func:`dump` writes one: no indicator first, no ": " or " #" inside
_PLAIN = re.compile(r"(?:[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-[0-9A-Za-z.])[^\t]*")
_SINGLE_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
#: What YAML reads as a line break or refuses outright (PyYAML's non-printable characters),
#: and a byte order mark: none is ever written by :func:`dump`; left to PyYAML.
_NOT_WRITTEN = re.compile(
    "[^\x09\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_RESOLVER = yaml.resolver.Resolver()
_NULLS = ("null", "Null", "NULL", "~")
_BOOLEANS = {word: word[0] in "tT" for word in ("true", "True", "TRUE", "false", "False", "FALSE")}


@functools.lru_cache(maxsize=4096)  # keys and most values repeat from cassette to cassette
def _scalar_text(text: str) -> Any:
    """A plain or single-quoted scalar (or key) on one line, as YAML reads it; only strings,
    decimal integers, null and booleans (anything else: PyYAML reads the file)."""
    if text[0] == "'":
        quoted = _SINGLE_QUOTED.fullmatch(text)
        if quoted is None:
            raise _Unsupported(text)
        return quoted.group(1).replace("''", "'")
    if _PLAIN.fullmatch(text) is None or ": " in text or " #" in text or text[-1] in " :":
        raise _Unsupported(text)
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag == "tag:yaml.org,2002:int" and _DECIMAL.fullmatch(text):
        return int(text)
    if tag == "tag:yaml.org,2002:null" and text in _NULLS:
        return None
    if tag == "tag:yaml.org,2002:bool" and text in _BOOLEANS:
        return _BOOLEANS[text]
    raise _Unsupported(text)


class _Reader:
    """Reads back exactly what :func:`dump` writes (block mappings and sequences, plain and
    single-quoted scalars, literal blocks, ``{}`` and ``[]``), several times faster than
    PyYAML, whose objects it returns unchanged; anything else raises ``_Unsupported``."""

    def __init__(self, text: str) -> None:
        if not text.endswith("\n"):  # dump ends every file with one (a literal block's
            raise _Unsupported("no final line break")  # last line break depends on it)
        self.lines = text.split("\n")
        self.lines.pop()  # after the final line break
        self.at = 0

    def document(self) -> Any:
        lines = self.lines
        while self.at < len(lines) and lines[self.at].startswith("#"):
            self.at += 1  # the header's comments
        if self.at == len(lines) or lines[self.at][:1] in ("", " ", "-"):
            raise _Unsupported("not a mapping")
        document = self.mapping(0)
        if self.at != len(lines):
            raise _Unsupported(f"line {self.at + 1}")
        return document

    def node(self, indent: int) -> Any:
        """The block that starts on the current line, indented ``indent``."""
        line = self.lines[self.at]
        if line.startswith("- ", indent):
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent: int) -> dict[Any, Any]:
        lines, result = self.lines, {}
        while self.at < len(lines):
            line = lines[self.at]
            stripped = line.lstrip(" ")
            depth = len(line) - len(stripped)
            if depth < indent or (depth == indent and stripped.startswith("-")):
                break
            entry = _ENTRY.fullmatch(stripped) if depth == indent else None
            if entry is None:
                raise _Unsupported(f"line {self.at + 1}")
            key = _scalar_text(entry.group(1))
            if not isinstance(key, str):
                raise _Unsupported(f"line {self.at + 1}: key")
            self.at += 1
            result[key] = self.value(entry.group(2), indent)
        return result

    def sequence(self, indent: int) -> list[Any]:
        lines, result = self.lines, []
        while self.at < len(lines):
            line = lines[self.at]
            if not line.startswith("- ", indent) or line[:indent].strip(" "):
                break
            rest = line[indent + 2 :]
            if rest[:1] in ("", " ", "-"):
                raise _Unsupported(f"line {self.at + 1}")
            if _ENTRY.fullmatch(rest) is not None:
                # "- key: ..." opens a mapping whose keys stand where this one does
                self.lines[self.at] = " " * (indent + 2) + rest
                result.append(self.mapping(indent + 2))
            else:
                self.at += 1
                result.append(self.value(rest, indent))
        return result

    def value(self, text: str | None, indent: int) -> Any:
        """The value after ``key:`` (or ``- ``) on a line indented ``indent``; the
        current line is the next one."""
        if text is None:
            if self.at == len(self.lines):
                raise _Unsupported("no value")
            line = self.lines[self.at]
            depth = len(line) - len(line.lstrip(" "))
            if depth > indent or (depth == indent and line.startswith("- ", indent)):
                return self.node(depth)
            raise _Unsupported(f"line {self.at}: no value")  # an empty value (null)
        if text in ("|-", "|", "|+"):
            return self.literal(text, indent)
        if text == "{}":
            return {}
        if text == "[]":
            return []
        return _scalar_text(text)

    def literal(self, style: str, indent: int) -> str:
        lines, start = self.lines, self.at
        if start == len(lines):
            raise _Unsupported("an empty literal block")
        first = lines[start]
        width = len(first) - len(first.lstrip(" "))
        if width <= indent or first[width:][:1] in ("", "\t"):
            raise _Unsupported(f"line {start + 1}: literal block")  # dump adds an indicator
        content: list[str] = []
        empty = 0  # empty lines since the last line of text
        while self.at < len(lines):
            line = lines[self.at]
            if line == "":
                empty += 1
            elif line.startswith(" " * width):
                if line.isspace():
                    raise _Unsupported(f"line {self.at + 1}: blank with spaces")
                content.extend([""] * empty)
                content.append(line[width:])
                empty = 0
            elif line.isspace():
                raise _Unsupported(f"line {self.at + 1}: blank with spaces")
            else:
                break
            self.at += 1
        text = "\n".join(content)
        if style == "|":
            return text + "\n"
        if style == "|+":
            return text + "\n" * (1 + empty)
        return text


def _read_written(text: str) -> Any:
    """``text`` read as YAML, if it is written as :func:`dump` writes (else ``_Unsupported``)."""
    if _NOT_WRITTEN.search(text) is not None:
        raise _Unsupported("a character dump never writes")
    try:
        return _Reader(text).document()
    except RecursionError:
        raise _Unsupported("nested deeply") from None


def load_written(data: bytes, path: Path | str) -> Any:
    """What :func:`load_yaml` returns for ``data``, read faster when the file is written as
    :func:`dump` writes (every cassette this plugin wrote), by PyYAML otherwise."""
    if len(data) <= MAX_CASSETTE_BYTES:
        try:
            return _read_written(data.decode("utf-8"))
        except (UnicodeDecodeError, _Unsupported):
            pass
    return load_yaml(data, path)


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
    return check_document(load_written(read_file(path), path), path, items=items)


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
