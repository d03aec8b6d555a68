"""Scrubbing: secrets become ``[REDACTED]``, patient identifiers deterministic pseudonyms.

It works on interactions in the on-disk shape (plain dicts), so the recorder, the webhook
capture and the linter share it:

- request: ``{"method", "uri", "headers": {name: [values]}, "body": str | bytes | None}``
- response: ``{"status": {"code", "message"}, "headers": {...}, "body": {"string": ...}}``

Rules, all on by default and only ever added to:

- secret headers, both ways, by name (``x-api-key``, ``authorization``, ``cookie``,
  ``set-cookie``, ``x-helios-signature``, and any name containing secret, token, signature,
  password, api-key, auth, cookie or session); every value seen there is remembered as a
  secret of the session and replaced wherever else it appears (an error body echoing it);
- secret JSON keys at any depth, and query and form parameters, by name;
- key-shaped strings anywhere (``sk_live_...``, bearer tokens, JWTs, ...);
- whatever the content type's parameters (``application/json; charset=utf-8``), any body
  that parses as JSON is scrubbed as JSON; compressed bodies are decompressed first;
- patient identifiers (names, free-text notes, and what the schemas mark with
  ``"x-helios-identifying": true``) become ``pseudonym-id-<12 hex>`` or
  ``pseudonym-text-<12 hex>``, an HMAC of the value: the same input always gives the same
  pseudonym, so a replayed request still matches its recording.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pytest_helios import _stash
from pytest_helios.cassettes.config import CANONICAL_WEBHOOK_URL
from pytest_helios.cassettes.salt import PUBLIC_SALT, ProjectSalt
from pytest_helios.cassettes.salt import resolve as resolve_salt
from pytest_helios.cassettes.scan import ANY_KEY_PATTERN, Unreadable, expand
from pytest_helios.facts import API_KEY_HEADER, BASE_URL, SIGNATURE_HEADER, TIMESTAMP_HEADER

REDACTED = "[REDACTED]"
PSEUDONYM_RE = re.compile(r"pseudonym-(?:id|text)-[0-9a-f]{12}")
#: Secrets shorter than this are not searched for in free text (too many false hits).
MIN_SECRET_LENGTH = 8
#: Patient identifiers (and the words of a name) of at least this many characters are
#: replaced wherever they stand as a whole word in the cassette's text; shorter ones only in
#: their own field.
MIN_IDENTIFIER_LENGTH = 3

SECRET_HEADERS = frozenset(
    {
        API_KEY_HEADER,
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        SIGNATURE_HEADER.lower(),
    }
)
#: Words that make a header a secret one wherever they stand in its normalized name
#: (``Api_Key``, ``X-Access-Key`` and ``x-api-key`` alike); and any name ending in ``key``.
_SECRET_HEADER_WORDS = (
    "secret",
    "token",
    "signature",
    "password",
    "apikey",
    "auth",
    "cookie",
    "session",
    "credential",
)

#: Normalized (lowercase, letters and digits only) JSON keys / parameters that hold secrets.
SECRET_KEYS = frozenset(
    {
        "apikey",
        "xapikey",
        "key",
        "secret",
        "password",
        "passwd",
        "token",
        "auth",
        "authorization",
        "signature",
        "sig",
        "cookie",
        "setcookie",
        "session",
        "sessionid",
        "privatekey",
        "credential",
        "credentials",
    }
)
_SECRET_KEY_SUFFIXES = ("secret", "token", "password", "apikey", "signature", "credential")

#: Headers that change on every call and mean nothing on replay.
VOLATILE_HEADERS = frozenset(
    {
        "date",
        "server",
        "x-request-id",
        "request-id",
        "x-amzn-requestid",
        "x-amzn-trace-id",
        "cf-ray",
        "cf-cache-status",
        "via",
        "age",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "x-runtime",
        "x-envoy-upstream-service-time",
        "alt-svc",
        "nel",
        "report-to",
        "etag",
        "last-modified",
        "expires",
        "user-agent",
        "accept-encoding",
        "host",
        "x-powered-by",
        TIMESTAMP_HEADER.lower(),
    }
)

#: Paths of patient identifiers (``**`` any number of keys or indexes, ``*`` exactly one).
#: Keys compare normalized (case, ``_`` and ``-`` ignored): ``patient_context.name`` too.
IDENTIFYING_PATHS: tuple[str, ...] = (
    "**.patientContext.name",
    "**.patientInfo.name",
    "**.patient.name",
    "**.patient.display",
    "**.subject.display",
    # FHIR: HumanName, Identifier, ContactPoint
    "**.name[*].family",
    "**.name[*].given",
    "**.name[*].text",
    "**.identifier[*].value",
    "**.telecom[*].value",
)
#: Normalized key names that hold a patient identifier wherever they stand.
IDENTIFYING_NAMES = frozenset(
    {
        "patientname",
        "firstname",
        "lastname",
        "middlename",
        "fullname",
        "givenname",
        "familyname",
        "surname",
        "maidenname",
        "dateofbirth",
        "birthdate",
        "dob",
        "mrn",
        "medicalrecordnumber",
        "medicalrecordno",
        "ssn",
        "socialsecuritynumber",
        "email",
        "emailaddress",
        "phone",
        "phonenumber",
        "telephone",
        "mobilephone",
        "cellphone",
        "homephone",
        "address",
        "streetaddress",
        "homeaddress",
        "mailingaddress",
    }
)
#: ... and the names that end in one of these (``patientFirstName``, ``patient_dob``) or
#: start with one of those (``ssn_last4``, ``date_of_birth_text``).
_IDENTIFYING_SUFFIXES = (
    "firstname",
    "lastname",
    "middlename",
    "fullname",
    "givenname",
    "familyname",
    "surname",
    "dateofbirth",
    "birthdate",
    "dob",
    "mrn",
    "medicalrecordnumber",
    "ssn",
    "phonenumber",
    "email",
    "emailaddress",
)
_IDENTIFYING_PREFIXES = ("ssn", "dateofbirth", "mrn", "medicalrecordnumber")
#: Paths of free text about a patient, pseudonymized as a whole.
FREE_TEXT_PATHS: tuple[str, ...] = ("**.notes", "**.note", "**.clinicalNotes", "**.socialHistory")

#: JSON keys whose value is run-local and normalized, with what it becomes.
RUN_LOCAL_KEYS: Mapping[str, str] = {"webhookUrl": CANONICAL_WEBHOOK_URL}


@functools.lru_cache(maxsize=4096)
def normalize_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def pseudonym(value: str, *, kind: str, salt: str) -> str:
    """The deterministic pseudonym of ``value`` (``kind`` is ``id`` or ``text``)."""
    digest = hmac.new(salt.encode(), f"{kind}\0{value}".encode(), hashlib.sha256)
    return f"pseudonym-{kind}-{digest.hexdigest()[:12]}"


def _segments(pattern: str) -> tuple[str, ...]:
    parts = (part for part in re.split(r"\.|(?=\[)", pattern) if part)
    return tuple(_normal_segment(part) for part in parts)


def _normal_segment(part: str) -> str:
    if part in ("*", "**") or part.startswith("["):
        return part
    return normalize_key(part)


def path_matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Whether a JSON path (keys, and ``[n]`` for indexes) matches a pattern's segments."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(path_matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    if head in ("*", "[*]") or head == path[0]:
        return path_matches(rest, path[1:])
    return False


def _shape(path: tuple[str, ...]) -> tuple[str, ...]:
    """The path with every index as ``[*]`` and every key normalized: what the rules can
    tell apart (and cache)."""
    return tuple("[*]" if part.startswith("[") else normalize_key(part) for part in path)


def is_identifying_name(key: str) -> bool:
    """Whether a normalized key names a patient identifier wherever it stands."""
    return (
        key in IDENTIFYING_NAMES
        or key.endswith(_IDENTIFYING_SUFFIXES)
        or key.startswith(_IDENTIFYING_PREFIXES)
    )


@functools.lru_cache(maxsize=8192)
def _identifying_kind(rules: Rules, path: tuple[str, ...]) -> str | None:
    if any(path_matches(p, path) for p in rules.free_text):
        return "text"
    if path and path[-1] != "[*]" and is_identifying_name(path[-1]):
        return "id"
    if any(path_matches(p, path) for p in rules.identifying):
        return "id"
    return None


_KEY_ALPHABET = re.compile(r"[A-Za-z0-9._~+/=:-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def key_shaped(value: str) -> bool:
    """Whether ``value`` has the shape of a key or token: a known key pattern, or one run of
    at least 16 token characters mixing letters and digits (not a date). Only such values,
    met under a generic secret key (``key``, ``sig``, ``session``), are remembered for the
    session; prose under those names (prescription directions in ``sig``) is not."""
    if ANY_KEY_PATTERN.search(value):
        return True
    token = value.strip()
    return (
        len(token) >= 16
        and _KEY_ALPHABET.fullmatch(token) is not None
        and any(c.isdigit() for c in token)
        and any(c.isalpha() for c in token)
        and _DATE.match(token) is None
    )


#: A value that reads as a name: words of letters, joined by spaces, hyphens, apostrophes
#: or periods. Its words are identifiers on their own ("Hello Jane").
_NAME_LIKE = re.compile(r"[^\W\d_]+(?:[\s'\u2019.-]+[^\W\d_]+)*\.?")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")


def name_words(value: str) -> list[str]:
    """The words of a name-like value that are identifiers on their own (three letters or
    more); none for a value that is not name-like (a date, an e-mail address, a number)."""
    if _NAME_LIKE.fullmatch(value.strip()) is None:
        return []
    words = _NAME_WORD.findall(value)
    if len(words) < 2:
        return []
    return [word for word in words if len(word) >= MIN_IDENTIFIER_LENGTH]


def _longest_first(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(values, key=len, reverse=True))


def _worth_keeping(value: str) -> bool:
    return len(value) >= MIN_SECRET_LENGTH and value != REDACTED


class SecretBook:
    """The secrets a session knows: value -> printable label (the value is never printed).

    Two kinds: those *registered* (the environment's, the fixtures', the configuration's;
    `add`), replaced everywhere, requests included; and those *learned* from traffic (a
    secret header's value, a key-shaped value under a secret key; `learn`), replaced in
    every response and scanned for in every cassette, but never used to scrub another
    test's requests, so a replay matches whichever tests ran before it.
    """

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        self._registered: dict[str, str] = {}
        self._ordered: tuple[str, ...] = ()
        self._ordered_registered: tuple[str, ...] = ()

    def add(self, value: str, label: str) -> None:
        """Register a secret: it is redacted wherever it appears, in any request or response."""
        value = value.strip()
        if _worth_keeping(value) and value not in self._registered:
            self._registered[value] = label
            self._ordered_registered = _longest_first(self._registered)
            self._learn(value, label)

    def learn(self, value: str, label: str) -> None:
        """Remember a secret met in traffic (see the class docstring)."""
        value = value.strip()
        if _worth_keeping(value):
            self._learn(value, label)

    def _learn(self, value: str, label: str) -> None:
        if value not in self._labels:
            self._labels[value] = label
            self._ordered = _longest_first(self._labels)

    def longest_first(self) -> tuple[str, ...]:
        """Every secret, longest first (so a secret containing another is replaced whole)."""
        return self._ordered

    def registered_longest_first(self) -> tuple[str, ...]:
        """The registered secrets, longest first."""
        return self._ordered_registered

    def labels(self) -> dict[str, str]:
        """Every secret (registered or learned) with its label: what the scan looks for."""
        return dict(self._labels)

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return f"<SecretBook of {len(self._labels)} secret(s)>"


@dataclass(frozen=True)
class Rules:
    """The scrubbing rules in force: the defaults plus the user's additions."""

    secret_headers: frozenset[str] = frozenset(normalize_key(h) for h in SECRET_HEADERS)
    secret_keys: frozenset[str] = SECRET_KEYS
    identifying: tuple[tuple[str, ...], ...] = tuple(_segments(p) for p in IDENTIFYING_PATHS)
    free_text: tuple[tuple[str, ...], ...] = tuple(_segments(p) for p in FREE_TEXT_PATHS)
    target_urls: tuple[str, ...] = ()
    salt: str = field(default=ProjectSalt(), repr=False)

    @classmethod
    @functools.lru_cache(maxsize=64)
    def with_additions(
        cls,
        *,
        secret_headers: Iterable[str] = (),
        secret_keys: Iterable[str] = (),
        identifying: Iterable[str] = (),
        target_urls: Iterable[str] = (),
        salt: str = ProjectSalt(),
    ) -> Rules:
        base = cls()
        return cls(
            secret_headers=base.secret_headers | {normalize_key(h) for h in secret_headers},
            secret_keys=base.secret_keys | {normalize_key(k) for k in secret_keys},
            identifying=(*base.identifying, *(_segments(p) for p in identifying)),
            target_urls=tuple(url.rstrip("/") for url in target_urls),
            salt=salt,
        )

    def is_secret_header(self, name: str) -> bool:
        """By the normalized name: ``X-API-Key``, ``Api_Key`` and ``x-access-key`` alike."""
        key = normalize_key(name)
        return (
            key in self.secret_headers
            or key.endswith("key")
            or any(word in key for word in _SECRET_HEADER_WORDS)
        )

    def is_secret_key(self, name: str) -> bool:
        key = normalize_key(name)
        return key in self.secret_keys or (key != "" and key.endswith(_SECRET_KEY_SUFFIXES))

    def identifying_kind(self, path: tuple[str, ...]) -> str | None:
        return _identifying_kind(self, _shape(path))


class Scrubber:
    """Scrubs interactions for one cassette, remembering what it met.

    ``secrets`` is the session's book (shared by every cassette). A request is scrubbed from
    what it holds, the registered secrets and what this cassette's earlier requests taught
    (never from other tests' traffic, nor from responses, which replay replaces), so the same
    test's requests scrub to the same bytes in any session and any order. A response is
    scrubbed with everything known: every secret of the session, every identifier met in
    this cassette.
    """

    def __init__(self, rules: Rules, secrets: SecretBook, targets: Sequence[str] = ()) -> None:
        self.rules = rules
        self.secrets = secrets
        self.targets = targets
        #: identifier value -> (pseudonym, label), for this cassette
        self.identifiers: dict[str, tuple[str, str]] = {}
        #: ... of those, the ones met in requests (what later requests may be scrubbed with)
        self.request_identifiers: dict[str, tuple[str, str]] = {}
        #: secrets learned from this cassette's requests (value -> label)
        self.request_secrets: dict[str, str] = {}
        self._in_request = False
        self._resolved_salt: str | None = None
        #: the secrets a request is scrubbed with, and what they were made of (both only grow)
        self._request_known: tuple[tuple[str, ...], int, tuple[str, ...]] = ((), 0, ())

    # -- text ------------------------------------------------------------------------------
    def _known_secrets(self) -> Iterable[str]:
        if not self._in_request:
            return self.secrets.longest_first()
        registered = self.secrets.registered_longest_first()
        made_of, count, known = self._request_known
        if made_of is not registered or count != len(self.request_secrets):
            known = _longest_first({*registered, *self.request_secrets})
            self._request_known = (registered, len(self.request_secrets), known)
        return known

    def _text(self, text: str, identifiers: Mapping[str, tuple[str, str]]) -> str:
        for value in self._known_secrets():
            if value in text:
                text = text.replace(value, REDACTED)
        text = ANY_KEY_PATTERN.sub(REDACTED, text)
        for value in sorted(identifiers, key=len, reverse=True):
            if len(value) >= MIN_IDENTIFIER_LENGTH and value in text:
                text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", identifiers[value][0], text)
        return text

    # -- JSON ------------------------------------------------------------------------------
    def _pseudonymize(
        self, value: Any, kind: str, label: str, found: dict[str, tuple[str, str]]
    ) -> Any:
        if isinstance(value, dict):
            return {k: self._pseudonymize(v, kind, label, found) for k, v in value.items()}
        if isinstance(value, list):
            return [self._pseudonymize(v, kind, label, found) for v in value]
        if value is None or isinstance(value, bool):
            return value
        text = value if isinstance(value, str) else json.dumps(value)
        if PSEUDONYM_RE.fullmatch(text):
            return text
        alias = pseudonym(text, kind=kind, salt=self._salt())
        found[text] = (alias, label)
        if kind == "id":
            for word in name_words(text):
                # "Hello Jane": each word of a name is replaced on its own too
                found.setdefault(word, (pseudonym(word, kind="id", salt=self._salt()), label))
        return alias

    def _salt(self) -> str:
        if self._resolved_salt is None:  # read (or made) once per cassette, when first needed
            self._resolved_salt = resolve_salt(self.rules.salt)
            if self._resolved_salt != PUBLIC_SALT:
                self.secrets.add(self._resolved_salt, "the pseudonym salt")  # never written
        return self._resolved_salt

    def _json(
        self,
        value: Any,
        path: tuple[str, ...],
        found: dict[str, tuple[str, str]],
        text: Callable[[str], str],
    ) -> Any:
        if isinstance(value, dict):
            result: dict[str, Any] = {}
            for key, item in value.items():
                child = (*path, str(key))
                stored = text(key) if isinstance(key, str) else key
                label = ".".join(child).replace(".[", "[")
                if self.rules.is_secret_key(str(key)) and item not in (None, ""):
                    self._learn(item, f"value of JSON key {label}", key_shaped_only=True)
                    result[stored] = REDACTED
                elif key in RUN_LOCAL_KEYS and isinstance(item, str):
                    result[stored] = RUN_LOCAL_KEYS[key]
                elif (kind := self.rules.identifying_kind(child)) is not None:
                    result[stored] = self._pseudonymize(item, kind, label, found)
                else:
                    result[stored] = self._json(item, child, found, text)
            return result
        if isinstance(value, list):
            return [self._json(v, (*path, f"[{i}]"), found, text) for i, v in enumerate(value)]
        if isinstance(value, str):
            return text(value)
        return value

    def _learn(self, value: Any, label: str, *, key_shaped_only: bool = False) -> None:
        """Remember a secret's value: a secret header's (or a URL password) whatever its shape;
        a secret key's or parameter's only when it is key-shaped (see `key_shaped`): the
        field itself is redacted either way."""
        if isinstance(value, str):
            parts = re.split(r"[\s;,]+", value)
            # "Bearer <token>", "a=<x>; b=<y>": each token and cookie value on its own
            for part in (value, *(p.split("=", 1)[-1] if "=" in p else p for p in parts)):
                if not key_shaped_only or key_shaped(part):
                    self._remember(part, label)
        elif isinstance(value, (dict, list)):
            for item in value.values() if isinstance(value, dict) else value:
                self._learn(item, label, key_shaped_only=key_shaped_only)
        elif value is not None and not key_shaped_only:
            self._remember(str(value), label)

    def _remember(self, value: str, label: str) -> None:
        self.secrets.learn(value, label)
        value = value.strip()
        if self._in_request and _worth_keeping(value):
            self.request_secrets.setdefault(value, label)

    def _learn_cookies(self, value: str, header: str, label: str) -> None:
        """The values of the cookies a ``Cookie`` or ``Set-Cookie`` header carries, never the
        attributes of a ``Set-Cookie`` (its path, domain and expiry date are no secret, and
        learning them would redact them wherever they appear)."""
        pairs = value.split(";")
        if header == "set-cookie":
            pairs = pairs[:1]  # name=value; the rest are attributes
        for pair in pairs:
            self._remember(pair.split("=", 1)[-1], label)

    # -- bodies ----------------------------------------------------------------------------
    def _body(
        self,
        body: object,
        content_type: str,
        encoding: str,
        found: dict[str, tuple[str, str]],
        identifiers: Mapping[str, tuple[str, str]],
        depth: int = 0,
    ) -> str | bytes | None:
        raw = body_bytes(body, content_type)
        if raw is None:
            return None
        if raw == b"":
            return "" if isinstance(body, str) else b""
        raw = decompress(raw, encoding)
        charset = _charset(content_type)
        if charset not in ("", "utf-8", "utf8"):
            # A text body in another charset: scrub it as text, store it in its own charset.
            try:
                other = raw.decode(charset)
            except (LookupError, UnicodeDecodeError):
                raise BodyNotReadable(
                    f"a body declared as charset {charset!r} that does not decode with it"
                ) from None
            scrubbed = self._body(other.encode("utf-8"), "", "", found, identifiers)
            if not isinstance(scrubbed, str):  # never an assert in plugin code (rewritten)
                raise BodyNotReadable(f"a body in charset {charset!r} that is not text")
            return scrubbed.encode(charset)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._binary(raw, found, identifiers, depth)
        known = {**identifiers}

        def scrub_text(s: str) -> str:
            return self._text(s, {**known, **found})

        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
            else:
                secrets_before = len(self.secrets)
                scrubbed = self._json(parsed, (), found, scrub_text)
                if found or len(self.secrets) != secrets_before:
                    # Second pass: what the walk met late is replaced everywhere.
                    scrubbed = _map_strings(scrubbed, scrub_text)
                return json.dumps(scrubbed, indent=2, sort_keys=True, ensure_ascii=False)
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            return self._query(text, found, scrub_text)
        boundary = _boundary(content_type)
        if media_type.startswith("multipart/") and boundary:
            return self._multipart(text, boundary, found, scrub_text)
        return scrub_text(text)

    def _multipart(
        self,
        text: str,
        boundary: str,
        found: dict[str, tuple[str, str]],
        scrub_text: Callable[[str], str],
    ) -> str:
        """A multipart form: each field by its name, under the rules of JSON keys and form
        fields; a request's boundary becomes MULTIPART_BOUNDARY (it is random per request)."""
        pieces = text.split("--" + boundary)
        parts = [scrub_text(pieces[0])]
        for piece in pieces[1:]:
            if piece.startswith("--"):
                parts.append("--" + scrub_text(piece[2:]))
                continue
            head, separator, content = piece.partition("\r\n\r\n")
            if not separator:
                head, separator, content = piece.partition("\n\n")
            newline = next((end for end in ("\r\n", "\n") if content.endswith(end)), "")
            value = content[: len(content) - len(newline)]
            named = re.search(r'(?i)\bname="([^"]*)"', head)
            name = named.group(1) if named else ""
            if name and self.rules.is_secret_key(name) and value:
                self._learn(value, f"value of form field {name}", key_shaped_only=True)
                value = REDACTED
            elif name and (kind := self.rules.identifying_kind((name,))) is not None:
                value = self._pseudonymize(value, kind, name, found)
            elif value.lstrip()[:1] in ("{", "["):
                value = self._json_text(value, (name,) if name else (), found, scrub_text)
            else:
                value = scrub_text(value)
            parts.append(scrub_text(head) + separator + value + newline)
        return ("--" + (MULTIPART_BOUNDARY if self._in_request else boundary)).join(parts)

    def _json_text(
        self,
        value: str,
        path: tuple[str, ...],
        found: dict[str, tuple[str, str]],
        scrub_text: Callable[[str], str],
    ) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            return scrub_text(value)
        return json.dumps(self._json(parsed, path, found, scrub_text), ensure_ascii=False)

    def _binary(
        self,
        raw: bytes,
        found: dict[str, tuple[str, str]],
        identifiers: Mapping[str, tuple[str, str]],
        depth: int,
    ) -> bytes:
        """Bytes that are not UTF-8 text. A gzip, zlib or zip body (the payload itself, with
        no ``Content-Encoding``) is scrubbed inside and packed again the same way, so the
        client replays what it got; anything else is kept with the known secrets replaced,
        and the scan, which cannot read it either, refuses to write it."""
        try:
            kind, members = expand(raw) if depth < 4 else ("", [])
        except Unreadable:
            kind, members = "", []
        if not kind:
            for value in self.secrets.labels():
                for codec in ("utf-8", "utf-16-le", "utf-16-be"):
                    raw = raw.replace(value.encode(codec), REDACTED.encode(codec))
            return raw
        scrubbed = []
        for name, content in members:
            inner = self._body(content, "", "", found, identifiers, depth + 1)
            data = inner.encode("utf-8") if isinstance(inner, str) else (inner or b"")
            shown = self._text(name, {**identifiers, **found}) if name else name
            scrubbed.append((shown, data))
        return _pack(kind, scrubbed)

    def _query(
        self, query: str, found: dict[str, tuple[str, str]], text: Callable[[str], str]
    ) -> str:
        pairs = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if self.rules.is_secret_key(name) and value:
                self._learn(value, f"value of parameter {name}", key_shaped_only=True)
                pairs.append((name, REDACTED))
            elif name in RUN_LOCAL_KEYS:
                pairs.append((name, RUN_LOCAL_KEYS[name]))
            elif (kind := self.rules.identifying_kind((name,))) is not None:
                pairs.append((name, self._pseudonymize(value, kind, name, found)))
            else:
                pairs.append((text(name), text(value)))
        return urlencode(pairs, safe="[]/:")

    # -- headers and URIs ------------------------------------------------------------------
    def _headers(
        self, headers: Mapping[str, Any], text: Callable[[str], str]
    ) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for name, values in headers.items():
            lowered = str(name).lower()
            listed = (
                [str(v) for v in values] if isinstance(values, (list, tuple)) else [str(values)]
            )
            if lowered in VOLATILE_HEADERS:
                continue
            if self.rules.is_secret_header(lowered):
                for value in listed:
                    if lowered in ("cookie", "set-cookie"):
                        self._learn_cookies(value, lowered, f"value of header {lowered}")
                    else:
                        self._learn(value, f"value of header {lowered}")
                result.setdefault(lowered, []).extend(REDACTED for _ in listed)
            else:
                result.setdefault(lowered, []).extend(text(v) for v in listed)
        return result

    def canonical_uri(self, uri: str) -> str:
        bases = sorted((*self.rules.target_urls, *self.targets), key=len, reverse=True)
        for base in (*bases, BASE_URL):
            if uri == base or uri.startswith((base + "/", base + "?")):
                return BASE_URL + uri[len(base) :]
        return uri

    def _uri(self, uri: str, found: dict[str, tuple[str, str]], text: Callable[[str], str]) -> str:
        parts = urlsplit(self.canonical_uri(uri))
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, netloc = netloc.rsplit("@", 1)
            self._learn(userinfo.split(":", 1)[-1], "password in a URL")
            netloc = f"{REDACTED}@{netloc}"
        query = self._query(parts.query, found, text) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, text(parts.path), query, ""))

    # -- interactions ----------------------------------------------------------------------
    def scrub_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a request. Only the request itself, the registered secrets and
        this cassette's earlier requests decide its body and URL, so the same test's requests
        always scrub to the same bytes (replay matches, whatever ran before)."""
        self._in_request = True
        try:
            result, found = self._scrub_request(request)
        finally:
            self._in_request = False
        self.identifiers.update(found)
        self.request_identifiers.update(found)
        return result

    def _scrub_request(
        self, request: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
        found: dict[str, tuple[str, str]] = {}
        earlier = dict(self.request_identifiers)
        headers = request.get("headers") or {}
        content_type, encoding = _content_headers(headers)
        # Headers first: a key learned there is redacted wherever the body repeats it.
        scrubbed_headers = self._headers(headers, lambda s: self._text(s, earlier))
        where = urlsplit(str(request.get("uri", ""))).path
        body = _readable(
            lambda: self._body(request.get("body"), content_type, encoding, found, earlier),
            f"the request {request.get('method', 'GET')} {where}",
        )

        def text(s: str) -> str:
            return self._text(s, {**earlier, **found})

        uri = self._uri(str(request.get("uri", "")), found, text)
        # Identifiers met in this request or earlier ones are replaced in headers too
        # (headers are not matched on, so this cannot make a replay miss).
        known = {**self.identifiers, **found}
        scrubbed_headers = self._headers(scrubbed_headers, lambda s: self._text(s, known))
        boundary = _boundary(content_type)
        if boundary and "content-type" in scrubbed_headers:
            scrubbed_headers["content-type"] = [
                v.replace(boundary, MULTIPART_BOUNDARY) for v in scrubbed_headers["content-type"]
            ]
        result = {
            "method": str(request.get("method", "GET")).upper(),
            "uri": uri,
            "headers": scrubbed_headers,
            "body": body,
        }
        return result, found

    def scrub_response(self, response: Mapping[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a response (identifiers met in requests are replaced too)."""
        found: dict[str, tuple[str, str]] = {}
        headers = response.get("headers") or {}
        content_type, encoding = _content_headers(headers)
        known = dict(self.identifiers)
        scrubbed_headers = self._headers(headers, lambda s: self._text(s, known))
        body_field = response.get("body") or {}
        raw = body_field.get("string") if isinstance(body_field, Mapping) else body_field
        body = _readable(
            lambda: self._body(raw, content_type, encoding, found, known), "a response"
        )
        self.identifiers.update(found)
        status = response.get("status") or {}
        return {
            "status": {
                "code": int(status.get("code", 0)),
                "message": self._text(str(status.get("message", "")), self.identifiers),
            },
            "headers": self._headers(scrubbed_headers, lambda s: self._text(s, self.identifiers)),
            "body": {"string": body if body is not None else ""},
        }

    def identifier_labels(self) -> dict[str, str]:
        """Identifiers met so far (value -> label), for the scan."""
        return {
            value: f"{label}, pseudonymized elsewhere"
            for value, (_, label) in self.identifiers.items()
            if len(value) >= MIN_IDENTIFIER_LENGTH
        }


def body_bytes(body: object, content_type: str = "") -> bytes | None:
    """The bytes of a body as vcrpy hands it over, whatever the client: ``bytes`` and its
    kin, ``str``, a file (read from where it stands, and put back), an iterator or list of
    chunks, and aiohttp's ``json=`` (a dict or list, stored as JSON; a dict as a form when the
    content type says so). Anything else raises ``BodyNotReadable``, so it is never recorded.
    """
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "read"):
        return _read_file(body)
    if isinstance(body, Mapping):
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            pairs = [(str(k), _form_value(v)) for k, v in body.items()]
            return urlencode(pairs).encode("ascii")
        return _json_bytes(body)
    if isinstance(body, (list, tuple, Iterator)):
        items = list(body)
        if items and all(isinstance(i, (bytes, bytearray, memoryview, str)) for i in items):
            return b"".join(i.encode("utf-8") if isinstance(i, str) else bytes(i) for i in items)
        return _json_bytes(items)
    raise BodyNotReadable(f"a body of type {type(body).__name__}")


def _read_file(file: Any) -> bytes:
    position = file.tell() if hasattr(file, "tell") and hasattr(file, "seek") else None
    data = file.read()
    if position is not None:
        file.seek(position)
    return body_bytes(data) or b""


def _form_value(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="strict")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")  # a file's contents in aiohttp form data
    raise TypeError(type(value).__name__)


def _json_bytes(value: Any) -> bytes:
    try:
        return json.dumps(value, default=_json_default, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeDecodeError):
        raise BodyNotReadable(
            f"a body of type {type(value).__name__} that is not JSON data"
        ) from None


def _pack(kind: str, members: list[tuple[str, bytes]]) -> bytes:
    """Members packed as ``kind`` (gzip, zlib or zip), the same bytes for the same members."""
    if kind == "gzip":
        return gzip.compress(members[0][1], mtime=0)
    if kind == "zlib":
        return zlib.compress(members[0][1])
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _readable(scrub: Callable[[], str | bytes | None], what: str) -> str | bytes | None:
    try:
        return scrub()
    except BodyNotReadable as reason:
        raise BodyNotReadable(
            f"helios: will not record {what}: it has {reason}, which cannot be checked for "
            "secrets. Nothing was written."
        ) from None


def _map_strings(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {text(str(k)): _map_strings(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, text) for v in value]
    if isinstance(value, str) and not PSEUDONYM_RE.fullmatch(value):
        return text(value)
    return value


#: What a recorded request's multipart boundary becomes (each request draws a random one).
MULTIPART_BOUNDARY = "helios-multipart-boundary"


def _boundary(content_type: str) -> str:
    if not content_type.split(";", 1)[0].strip().lower().startswith("multipart/"):
        return ""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"')
    return ""


def _content_headers(headers: Mapping[str, Any]) -> tuple[str, str]:
    content_type = encoding = ""
    for name, values in headers.items():
        value = values[0] if isinstance(values, (list, tuple)) and values else values
        if str(name).lower() == "content-type":
            content_type = str(value)
        elif str(name).lower() == "content-encoding":
            encoding = str(value)
    return content_type, encoding


class BodyNotReadable(Exception):
    """A body the scrubber cannot read, so cannot check for secrets: it is never recorded."""


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


def decompress(raw: bytes, encoding: str) -> bytes:
    """The body decoded from its ``Content-Encoding`` (gzip, deflate, br when available).

    Fails closed: a coding it does not know, or cannot undo, raises ``BodyNotReadable``
    rather than letting compressed bytes (which no scan can see into) reach a cassette. One
    exception: a body that is plain text although its header names a coding is taken as it
    is. vcrpy records some clients' responses (requests, through urllib3) after the client
    decoded them, with the header unchanged; compressed bytes are never printable text, and
    text is scrubbed and scanned as it is.
    """
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if coding == "identity":
            continue
        try:
            if coding in ("gzip", "x-gzip"):
                raw = gzip.decompress(raw)
            elif coding == "deflate":
                try:
                    raw = zlib.decompress(raw)
                except zlib.error:
                    raw = zlib.decompress(raw, -zlib.MAX_WBITS)
            elif coding == "br":
                import brotli  # type: ignore[import-not-found,unused-ignore]  # optional

                raw = brotli.decompress(raw)
            elif _plain_text(raw):
                return raw
            else:
                raise BodyNotReadable(f"a body with Content-Encoding {coding!r}")
        except (OSError, zlib.error, ImportError, EOFError):
            if _plain_text(raw):
                return raw  # decoded already: every coding named is undone
            raise BodyNotReadable(
                f"a body with Content-Encoding {coding!r} that cannot be decoded here"
            ) from None
    return raw


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain_text(raw: bytes) -> bool:
    """UTF-8 text with no control character but tab and line ends."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(text) is None


ENV_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "API_KEY", "APIKEY", "PRIVATE_KEY", "SALT")


def environment_secrets() -> dict[str, str]:
    """Values of environment variables whose names say they are secrets, by label."""
    import os

    return {
        value.strip(): f"environment variable {name}"
        for name, value in os.environ.items()
        if any(word in name.upper() for word in ENV_SECRET_WORDS)
        and len(value.strip()) >= MIN_SECRET_LENGTH
        and value.strip() != PUBLIC_SALT
    }


def session_targets(config: Any) -> list[str]:
    """Base URLs of this session's targets (the emulator's, once it starts), stored as
    https://api.heliosai.health. Cassettes read it live, so a target that starts after a
    cassette opened is still recognized."""
    targets: list[str] | None = config.stash.get(_stash.cassette_targets, None)
    if targets is None:
        targets = config.stash[_stash.cassette_targets] = []
    return targets


def session_secrets(config: Any) -> SecretBook:
    """The pytest session's secret book, created on first use.

    It starts with every environment variable whose name says it is a secret
    (``HELIOS_API_KEY``, ``HELIOS_WEBHOOK_SECRET``, ``*_TOKEN``, ...); fixtures that create
    keys and secrets add theirs with ``session_secrets(config).add(value, label)``, and the
    scrubber adds every value it meets in a secret header, key or parameter.
    """
    book: SecretBook | None = config.stash.get(_stash.cassette_secrets, None)
    if book is None:
        book = SecretBook()
        for value, label in environment_secrets().items():
            book.add(value, label)
        config.stash[_stash.cassette_secrets] = book
    return book
