"""The independent scan of the exact bytes about to be written.

It trusts nothing the scrubber did: it reads the bytes back (as YAML, then each body as JSON
when it is JSON), looks in every string for every secret the session knows, every patient
identifier the scrubber met, and every key-shaped string, and reports each hit by its *place*
(interaction, request or response, header name or JSON path), never by its value. A hit the
structured walk cannot place (say, in a comment) is still reported, by line number.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_helios.facts import API_KEY_PREFIX, SIGNATURE_PREFIX, WEBHOOK_SECRET_PREFIX

# The documented live key prefix, and the test-mode twin such keys conventionally have.
_API_KEY_PREFIXES = (API_KEY_PREFIX, API_KEY_PREFIX.replace("_live_", "_test_"))

#: Strings shaped like credentials, whoever issued them. Placeholders never match these.
KEY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a Helios API key",
        re.compile(f"(?:{'|'.join(map(re.escape, _API_KEY_PREFIXES))})[A-Za-z0-9]{{8,}}"),
    ),
    (
        "a webhook signing secret",
        re.compile(re.escape(WEBHOOK_SECRET_PREFIX) + "[A-Za-z0-9+/=_-]{8,}"),
    ),
    ("a webhook signature", re.compile(re.escape(SIGNATURE_PREFIX) + "[0-9a-fA-F]{64}")),
    ("a bearer token", re.compile(r"\b(?i:bearer)\s+[A-Za-z0-9._~+/-]{8,}=*")),
    ("a JSON Web Token", re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")),
    ("an AWS access key", re.compile(r"AKIA[0-9A-Z]{16}")),
    ("a GitHub token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}")),
    ("a Slack token", re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}")),
)


#: All of them in one pattern, for one pass over a string.
ANY_KEY_PATTERN = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in KEY_PATTERNS))


@dataclass(frozen=True)
class Finding:
    """One thing that must not be written: where it is and what kind it is (never the value)."""

    place: str
    what: str

    def __str__(self) -> str:
        return f"{self.place}: {self.what}"


def _json_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = (
                f"{path}.{key}"
                if re.fullmatch(r"[A-Za-z_][\w-]*", str(key))
                else (f"{path}[{json.dumps(str(key))}]")
            )
            yield child + " (key)", str(key)
            yield from _json_strings(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{index}]")
    elif value is not None:
        yield path, value if isinstance(value, str) else json.dumps(value)


#: At most this many bytes are decompressed from one body (a zip bomb is refused, not read).
MAX_EXPANDED_BYTES = 64 * 1024 * 1024
_MAX_NESTING = 4


class Unreadable(Exception):
    """Bytes that no scan can see into; the message says why (never what they hold)."""


class Opaque(str):
    """A body's bytes as latin-1 text, searched as they are, but unreadable as a whole: the
    scan reports it, so nothing it cannot read is ever written."""

    reason: str

    def __new__(cls, data: bytes, reason: str) -> Opaque:
        text = super().__new__(cls, data.decode("latin-1"))
        text.reason = reason
        return text


def _is_zlib(data: bytes) -> bool:
    return len(data) > 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    out = bytearray()
    while data:
        engine = zlib.decompressobj(wbits)
        out += engine.decompress(data, limit + 1 - len(out))
        if len(out) > limit or engine.unconsumed_tail:
            raise Unreadable(f"more than {limit:,} bytes once decompressed")
        if not engine.eof:
            raise Unreadable("a truncated compressed stream")
        data = engine.unused_data if wbits > 16 else b""  # gzip may hold several members
    return bytes(out)


def expand(data: bytes, limit: int = MAX_EXPANDED_BYTES) -> tuple[str, list[tuple[str, bytes]]]:
    """``(kind, [(name, bytes), ...])`` of a body compressed without saying so, recognized by
    its magic bytes (gzip, zlib or zip; ``("", [])`` when it is none of them). Raises
    `Unreadable` for one it cannot undo (corrupt, encrypted, or beyond ``limit`` bytes)."""
    try:
        if data[:2] == b"\x1f\x8b":
            return "gzip", [("", _inflate(data, 16 + zlib.MAX_WBITS, limit))]
        if _is_zlib(data):
            try:
                return "zlib", [("", _inflate(data, zlib.MAX_WBITS, limit))]
            except zlib.error:
                return "", []  # two bytes that only looked like a zlib header
        if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
            return "zip", _unzip(data, limit)
    except zlib.error:
        raise Unreadable("a corrupt compressed stream") from None
    return "", []


def _unzip(data: bytes, limit: int) -> list[tuple[str, bytes]]:
    import io
    import zipfile

    members = []
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.flag_bits & 0x1:
                    raise Unreadable("an encrypted zip member")
                with archive.open(info) as member:
                    content = member.read(limit + 1 - total)
                total += len(content)
                if total > limit:
                    raise Unreadable(f"more than {limit:,} bytes once decompressed")
                members.append((info.filename, content))
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, RuntimeError):
        raise Unreadable("a zip archive that cannot be read") from None
    return members


def decode_text(data: bytes, charset: str = "") -> str | None:
    """``data`` as text (in ``charset`` when one is declared, else UTF-8), or ``None``."""
    for codec in (charset, "utf-8") if charset else ("utf-8",):
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return None


def _bytes_strings(
    data: bytes, place: str, charset: str, depth: int = 0
) -> Iterator[tuple[str, str]]:
    try:
        kind, members = expand(data) if depth < _MAX_NESTING else ("", [])
    except Unreadable as reason:
        yield place, Opaque(data, str(reason))
        return
    if kind:
        for name, content in members:
            inner = f"{place} ({kind}{' member ' + name if name else ''})"
            if name:
                yield inner + " (name)", name
            yield from _bytes_strings(content, inner, "", depth + 1)
        return
    text = decode_text(data, charset)
    if text is None:
        yield (
            place,
            Opaque(data, f"{len(data):,} bytes that are neither text nor gzip, zlib or zip"),
        )
        return
    yield from _text_strings(text, place)


def _text_strings(text: str, place: str) -> Iterator[tuple[str, str]]:
    try:
        parsed = json.loads(text)
    except ValueError:
        yield place, text
        return
    yield from _json_strings(parsed, f"{place} $")


def _charset_of(headers: Any) -> str:
    if not isinstance(headers, dict):
        return ""
    for name, values in headers.items():
        if str(name).lower() == "content-type":
            value = values[0] if isinstance(values, list) and values else values
            for parameter in str(value).split(";")[1:]:
                key, _, charset = parameter.partition("=")
                if key.strip().lower() == "charset":
                    return charset.strip().strip('"').lower()
    return ""


def _body_strings(body: Any, place: str, charset: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(body, dict) and "string" in body:
        body = body["string"]
    if isinstance(body, bytes):
        yield from _bytes_strings(body, f"{place} body", charset)
        return
    if not isinstance(body, str):
        yield from _any_strings(body, f"{place} body")
        return
    yield from _text_strings(body, f"{place} body")


def _any_strings(value: Any, place: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{place} (key {key!s:.40})", str(key)
            yield from _any_strings(item, f"{place}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _any_strings(item, f"{place}[{index}]")
    elif isinstance(value, bytes):
        yield place, value.decode("latin-1")
    elif value is not None:
        yield place, str(value)


def _message_strings(message: Any, place: str) -> Iterator[tuple[str, str]]:
    if not isinstance(message, dict):
        yield from _any_strings(message, place)
        return
    charset = _charset_of(message.get("headers"))
    for key, value in message.items():
        if key == "headers" and isinstance(value, dict):
            for name, values in value.items():
                yield f"{place}, header {name}", str(name)
                for value in values if isinstance(values, list) else [values]:
                    yield from _any_strings(value, f"{place}, header {name}")
        elif key == "body":
            yield from _body_strings(value, f"{place},", charset)
        elif key in ("uri", "url"):
            yield f"{place}, uri", str(value)
        else:
            yield from _any_strings(value, f"{place}, {key}")


def document_strings(document: Any) -> Iterator[tuple[str, str]]:
    """Every string in a cassette or capture document, with a readable place for each."""
    if not isinstance(document, dict):
        yield from _any_strings(document, "document")
        return
    for key, value in document.items():
        if key in ("interactions", "deliveries") and isinstance(value, list):
            noun = "interaction" if key == "interactions" else "delivery"
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    yield from _any_strings(item, f"{noun} {index}")
                    continue
                for part, message in item.items():
                    yield from _message_strings(message, f"{noun} {index}, {part}")
        else:
            yield from _any_strings(value, str(key))


def encoded_forms(value: str) -> set[str]:
    """The ways a secret can sit in stored text: as is, percent-encoded (a URL path or query),
    base64 (a Basic header or an opaque token), and as UTF-16 bytes read as latin-1 (a body in
    another charset). The scan looks for each, so the scrubber missing one form is still caught.
    """
    import base64
    from urllib.parse import quote, quote_plus

    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), quote_plus(value), base64.b64encode(raw).decode()}
    forms |= {value.encode(codec).decode("latin-1") for codec in ("utf-16-le", "utf-16-be")}
    forms.add(raw.decode("latin-1"))
    return {form for form in forms if form}


def _hits(text: str, secrets: Mapping[str, str], identifiers: Mapping[str, str]) -> Iterator[str]:
    if isinstance(text, Opaque):
        yield (
            f"unreadable bytes ({text.reason}), which cannot be checked for secrets; "
            "to record them anyway, replace the body in a pytest_helios_scrub_interaction hook"
        )
    for value, label in secrets.items():
        if value and any(form in text for form in encoded_forms(value)):
            yield f"a known secret ({label})"
    if ANY_KEY_PATTERN.search(text):
        for label, pattern in KEY_PATTERNS:
            if pattern.search(text):
                yield f"a key-shaped string ({label})"
    for value, label in identifiers.items():
        if value and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text):
            yield f"a patient identifier ({label})"


def scan_bytes(
    data: bytes,
    *,
    secrets: Mapping[str, str],
    identifiers: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every secret, key-shaped string or identifier in ``data``, by place; [] when clean.

    ``secrets`` and ``identifiers`` map each value to a label that may be printed.
    """
    from pytest_helios.cassettes.persister import HEADER, load_yaml
    from pytest_helios.exceptions import CassetteFormatError

    identifiers = identifiers or {}
    text = data.decode("utf-8", errors="replace")
    findings: list[Finding] = []
    try:
        document = load_yaml(data, "the bytes")  # bounded: no alias, no bomb
    except CassetteFormatError:
        document = None
    if document is not None:
        try:
            for place, string in document_strings(document):
                findings.extend(
                    Finding(place, what) for what in _hits(string, secrets, identifiers)
                )
        except RecursionError:  # nested beyond the walk: the lines below still see it all
            findings = []
    if not findings:
        # Belt and braces: whatever the structure hides (comments, odd escapes), by line;
        # the plugin's own header comment holds no data (a patient named "Check" is no leak)
        header = HEADER.splitlines()
        for number, line in enumerate(text.splitlines(), start=1):
            if number <= len(header) and line == header[number - 1]:
                continue
            findings.extend(
                Finding(f"line {number}", what) for what in _hits(line, secrets, identifiers)
            )
    return list(dict.fromkeys(findings))
