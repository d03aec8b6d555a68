"""Request checks of the two endpoints: JSON parsing, the request schemas, the webhookUrl rule.

Every problem becomes a :class:`FieldProblem` naming the field by dotted path
(``data.patientInfo.age``, ``labResults[3].value``; ``""`` for the whole body), so that a 400
lists each bad field at once, up to :data:`MAX_DETAILS` of them (the rest are counted).

The schema check is bounded: a valid body costs one pass of jsonschema-rs; an invalid one has
its long arrays checked a window at a time (:func:`schema_problems`), and the check stops after
:data:`MAX_PROBLEMS`. A 5 MiB body with every item wrong therefore costs about a second, not 40
seconds and a 35 MB answer.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pytest_helios.facts import UNKNOWN_FIELDS_MODES

LOOPBACK_HOSTS = frozenset({"localhost", "localhost.localdomain"})
MAX_DEPTH = 64
#: A 400 lists at most this many problems in ``details``; ``detailsOmitted`` counts the rest.
MAX_DETAILS = 100
#: The schema check of one request stops after this many problems.
MAX_PROBLEMS = 10_000
#: How many characters of one problem's message a 400 shows.
MESSAGE_LIMIT = 300

#: Where the refusal of a webhook host that is not allowed tells the user to allow it.
WEBHOOK_HOSTS_SETTING = (
    "HeliosEmulator(webhook_hosts=[...]), helios-emulator --webhook-host HOST, "
    "or for the pytest fixture --helios-webhook-hosts / ini helios_webhook_hosts"
)


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of a request body (``field`` ``""``: the whole body)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class BadRequest(Exception):
    """The request cannot be accepted; ``problems`` name every bad field found.

    ``stopped``: the check gave up after :data:`MAX_PROBLEMS`, so there may be more.
    """

    def __init__(
        self, problems: Sequence[FieldProblem], summary: str | None = None, *, stopped: bool = False
    ) -> None:
        super().__init__(summary or problems[0].message)
        self.summary = summary
        self.problems = list(problems)
        self.stopped = stopped

    def body(self) -> dict[str, Any]:
        """The 400 body (``validation-error``); its message sums up the details. Past
        :data:`MAX_DETAILS` problems, ``detailsOmitted`` says how many more were found."""
        import pytest_helios.payloads.builders as payloads

        listed = self.problems[:MAX_DETAILS]
        omitted = len(self.problems) - len(listed)
        summary = self.summary
        if summary is None and (omitted or self.stopped):
            first = listed[0]
            more = f"and {omitted:,} more"
            if self.stopped:
                more += f"; the check stopped after {MAX_PROBLEMS:,} problems"
            summary = f"{first.field or 'request body'}: {first.message} ({more})"
        body = payloads.validation_error([(e.field, e.message) for e in listed], summary)
        if omitted or self.stopped:
            body["detailsOmitted"] = omitted
        return body


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
            [FieldProblem("", f"expected Content-Type application/json, got {_short(shown, 60)}")],
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


# --- where webhooks may go ----------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) is this machine's loopback."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reaches_this_machine(address: str) -> bool:
    """Whether a connection to the IP ``address`` lands on this machine's loopback listeners:
    a loopback address, the unspecified one (0.0.0.0, ::), or either as IPv4-mapped IPv6."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _host_entry(entry: str) -> str:
    """One allowed webhook host, normalised, or ``ValueError`` naming it."""
    host = entry.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    bare = host.removeprefix("*.")
    valid = host == "*" or (
        bare != ""
        and "*" not in bare
        and not any(c in bare for c in "/?#@ \t")
        and (":" not in bare or _is_ip(bare))
    )
    if not valid:
        raise ValueError(
            f"{entry!r} is not a valid webhook host. Valid values: a host name or IP address "
            "without scheme, port or path (api.example.org, 10.0.0.5), *.example.org for its "
            "subdomains, or * for any host"
        )
    return host


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class WebhookTargets:
    """Where the emulator may deliver webhooks: loopback hosts always, any other host only when
    ``allowed`` names it (``*.example.org``: its subdomains; ``*``: any host), and never the
    emulator itself. ``require_https`` refuses ``http://`` even on loopback."""

    allowed: frozenset[str] = frozenset()
    require_https: bool = False

    @classmethod
    def of(cls, hosts: Iterable[str], *, require_https: bool = False) -> WebhookTargets:
        """Targets allowing ``hosts``; ``ValueError`` names an entry that is not a host."""
        if isinstance(hosts, str):
            hosts = [hosts]
        return cls(frozenset(_host_entry(h) for h in hosts), require_https)

    def allows(self, host: str) -> bool:
        """Whether a webhook may go to ``host`` (its name as the URL gives it)."""
        host = host.lower().rstrip(".")
        if is_loopback(host) or "*" in self.allowed or host in self.allowed:
            return True
        return any(entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.allowed)

    def url_error(self, url: str) -> str | None:
        """Why ``url`` is no webhook URL at all, or ``None``.

        HTTPS is documented; plain HTTP is accepted for loopback hosts (local receivers in
        tests) unless ``require_https`` is set. A host name must be one an HTTP client can
        send to (``xn--`` is not valid IDNA, for one).
        """
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            return "must be an absolute http(s) URL"
        if parts.scheme not in ("http", "https") or not host:
            return "must be an absolute http(s) URL"
        idna_problem = _idna_problem(url)
        if idna_problem is not None:
            return f"has an invalid host name {_short(host, 60)!r} ({idna_problem})"
        if parts.scheme == "http":
            if self.require_https:
                return "must use https"
            if not is_loopback(host):
                return "must use https (http is accepted only for loopback hosts)"
        return None

    def sandbox_error(self, url: str, own_port: int | None = None) -> str | None:
        """Why the emulator must not deliver to the webhook URL ``url`` (valid by
        :meth:`url_error`), or ``None``: the emulator itself (``own_port`` on this machine),
        or a host that is neither loopback nor allowed.

        A reserved name that never resolves (``*.test``, ``*.invalid``, ``*.example``) is
        accepted: a run sent there plays out, and each delivery is logged as refused, with
        nothing sent and nothing looked up.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if own_port is not None and port == own_port and (is_loopback(host) or _unspecified(host)):
            return (
                "points at the emulator itself; webhooks never go to the emulator's own "
                "address (its API or its admin API)"
            )
        if self.allows(host) or is_reserved(host):
            return None
        return (
            f"host {_short(host, 60)!r} is not loopback and not allowed: the emulator "
            f"delivers webhooks to loopback only, unless the host is allowed with "
            f"{WEBHOOK_HOSTS_SETTING}"
        )


#: Top-level names reserved for testing and documentation that never resolve (RFC 2606,
#: RFC 6761): a webhook URL there is accepted, and never delivered.
RESERVED_TLDS = ("test", "invalid", "example")


def is_reserved(host: str) -> bool:
    """Whether ``host`` is under a reserved top-level name that never resolves."""
    return host.lower().rstrip(".").rpartition(".")[2] in RESERVED_TLDS


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _idna_problem(url: str) -> str | None:
    """Why the HTTP client cannot even build a request to ``url`` (a host name that is not
    valid IDNA, such as ``xn--``), or ``None``."""
    import httpx

    try:
        httpx.URL(url).host  # noqa: B018 - decoding the host is what fails
    except (httpx.InvalidURL, ValueError) as exc:  # idna's errors are ValueErrors
        return _short(str(exc) or type(exc).__name__, 120)
    return None


# --- the request schemas, within a budget -------------------------------------------------------


_REQUIRED = re.compile(r"missing required property (.+)")


def _short(text: str, limit: int) -> str:
    from pytest_helios.masking import shorten

    return shorten(text, limit)


#: ``strict`` (the default: a typo'd field name is caught in a test instead of being ignored)
#: or ``lenient``; every known field is checked either way.
UNKNOWN_FIELDS = UNKNOWN_FIELDS_MODES


def check_unknown_fields(value: object) -> str:
    """``value`` as one of :data:`UNKNOWN_FIELDS`, or ``ValueError`` listing them."""
    if value not in UNKNOWN_FIELDS:
        raise ValueError(
            f"unknown_fields must be one of {', '.join(UNKNOWN_FIELDS)}, got {value!r}"
        )
    return str(value)


def schema_problems(
    schema_name: str, instance: Any, limit: int = MAX_PROBLEMS, *, unknown_fields: str = "strict"
) -> tuple[list[FieldProblem], bool]:
    """The problems of ``instance`` against the request schema ``schema_name``, at most
    ``limit``, and whether the check stopped there (there may be more). The wording is
    :func:`pytest_helios.payloads.validate`'s; a missing required property is reported under
    its own path (``data``), not under the object that lacks it.

    jsonschema-rs finds every error of an instance at once, at a cost that grows faster than
    their number (40 s for the 450,000 of a 5 MiB body). So a long array is checked apart:
    the body is first described with every array cut to its first :attr:`_Checker.window`
    items; then the rest of each cut array is scanned item by item (a validity check costs
    about 0.1 µs) and only the invalid items are described, a window at a time, until
    ``limit`` problems are known.

    ``unknown_fields="lenient"`` checks against the schema with every closed object opened
    (``additionalProperties: false`` dropped): unknown keys pass, known ones are checked.
    """
    lenient = check_unknown_fields(unknown_fields) == "lenient"
    return _Checker.of(schema_name, lenient=lenient).problems(instance, limit)


def _field_problem(path: str, keyword: str, message: str) -> FieldProblem:
    field = path.removeprefix("$").removeprefix(".")
    if keyword == "required":
        match = _REQUIRED.fullmatch(message)
        if match:
            name = ast.literal_eval(match.group(1))
            field = f"{field}.{name}" if field else str(name)
            return FieldProblem(field, "is required")
    return FieldProblem(field, _short(message, MESSAGE_LIMIT))


#: Keywords that make an array's items depend on each other or on their place; a schema using
#: any of them is always checked whole.
_ORDER_KEYWORDS = frozenset(
    {"uniqueItems", "contains", "minContains", "maxContains", "prefixItems", "unevaluatedItems"}
)
_COUNT_GOT = re.compile(r"got \d+$")


@dataclass(frozen=True)
class _Cut:
    """An array the body's description cut short: where it is, and all its items."""

    at: tuple[str | int, ...]
    items: list[Any]


class _Checker:
    """One request schema's bounded check (see :func:`schema_problems`)."""

    def __init__(self, name: str, *, lenient: bool = False) -> None:
        import jsonschema_rs

        from pytest_helios.payloads import validation

        self.name = name
        self.lenient = lenient
        self.schema = validation.load_schema(name)  # self-contained: every $ref local
        if lenient:
            self.schema = _opened(self.schema)
        self.validator = jsonschema_rs.Draft202012Validator(
            self.schema, validate_formats=True, ignore_unknown_formats=False
        )
        bounds = [v for k, v in _keywords(self.schema) if k in ("minItems", "maxItems")]
        #: Items a cut array keeps: more than any item count the schema sets, so the cut
        #: array breaks minItems and maxItems exactly when the whole one does.
        self.window = max([128, *(b + 1 for b in bounds if isinstance(b, int))])
        self.whole_only = any(
            k in _ORDER_KEYWORDS or (k == "items" and v is False) for k, v in _keywords(self.schema)
        )
        self._item_validators: dict[tuple[str | int, ...], Any] = {}

    @classmethod
    def of(cls, name: str, *, lenient: bool = False) -> _Checker:
        checker = _CHECKERS.get((name, lenient))
        if checker is None:
            checker = _CHECKERS[(name, lenient)] = cls(name, lenient=lenient)
        return checker

    def problems(self, instance: Any, limit: int) -> tuple[list[FieldProblem], bool]:
        try:
            if self.validator.is_valid(instance):
                return [], False
        except (ValueError, TypeError, OverflowError):  # not JSON: validate() says why
            return self._listed(self._described(instance), limit)
        cuts: list[_Cut] = []
        reduced = self._reduce(instance, (), cuts) if not self.whole_only else instance
        if not cuts:
            return self._listed(self._described(instance), limit)
        lengths = {_path(cut.at): len(cut.items) for cut in cuts}
        found: list[FieldProblem] = []
        for path, keyword, message in self._described(reduced):
            if keyword in ("minItems", "maxItems") and path in lengths:
                message = _COUNT_GOT.sub(f"got {lengths[path]}", message)
            found.append(_field_problem(path, keyword, message))
            if len(found) > limit:
                return found[:limit], True
        for cut in cuts:
            for problem in self._tail_problems(reduced, cut):
                found.append(problem)
                if len(found) > limit:
                    return found[:limit], True
        if not found:  # cannot happen with the request schemas; never call a bad body good
            return self._listed(self._described(instance), limit)
        return found, False

    # -- describing --------------------------------------------------------------------------

    def _described(self, instance: Any) -> Iterator[tuple[str, str, str]]:
        """``(path, keyword, message)`` of each violation, worded by ``validate``."""
        from pytest_helios.payloads import validation

        try:
            validation.validate(self.name, instance)
        except validation.ContractViolation as exc:
            for v in exc.violations:
                if self.lenient and v.keyword == "additionalProperties":
                    continue  # an unknown key: what the opened schema lets through
                yield v.path, v.keyword, v.message

    def _listed(
        self, described: Iterator[tuple[str, str, str]], limit: int
    ) -> tuple[list[FieldProblem], bool]:
        found = [_field_problem(*d) for d in described]
        return found[:limit], len(found) > limit

    def _tail_problems(self, reduced: Any, cut: _Cut) -> Iterator[FieldProblem]:
        """The problems of the items of ``cut`` past the window, found by scanning each item
        (or, without an item schema, a window at a time) and described a window at a time."""
        where = _path(cut.at)
        valid = self._item_validator(cut.at)
        tail = range(self.window, len(cut.items))
        if valid is None:
            invalid: Iterable[int] = tail
        else:
            invalid = (i for i in tail if not valid(cut.items[i]))
        batch: list[int] = []
        for index in invalid:
            batch.append(index)
            if len(batch) == self.window:
                yield from self._batch_problems(reduced, cut, where, batch)
                batch = []
        if batch:
            yield from self._batch_problems(reduced, cut, where, batch)

    def _batch_problems(
        self, reduced: Any, cut: _Cut, where: str, batch: list[int]
    ) -> Iterator[FieldProblem]:
        probe = _replaced(reduced, cut.at, [cut.items[i] for i in batch])
        prefix = where + "["
        for path, keyword, message in self._described(probe):
            if not path.startswith(prefix):
                continue  # outside this array's items: reported with the cut body already
            index, _, rest = path[len(prefix) :].partition("]")
            if index.isdigit() and int(index) < len(batch):
                path = f"{prefix}{batch[int(index)]}]{rest}"
                yield _field_problem(path, keyword, message)

    def _item_validator(self, at: tuple[str | int, ...]) -> Any:
        """``is_valid`` of the schema the items of the array at ``at`` must match, or None
        when the path leads through anything but ``properties``, ``items`` and ``$ref``."""
        shape = tuple(isinstance(part, int) for part in at)
        key = tuple(p if isinstance(p, str) else 0 for p in at)
        if key in self._item_validators:
            return self._item_validators[key]
        node: Any = self.schema
        for part, is_index in zip(at, shape, strict=True):
            node = self._plain(node)
            if node is None:
                break
            node = node.get("items") if is_index else (node.get("properties") or {}).get(part)
        node = self._plain(node) if node is not None else None
        items = node.get("items") if node is not None else None
        validator = None
        if isinstance(items, dict) and all(r.startswith("#/$defs/") for r in _refs(items)):
            import jsonschema_rs

            document = {
                **items,
                "$defs": {**self.schema.get("$defs", {}), **items.get("$defs", {})},
            }
            validator = jsonschema_rs.Draft202012Validator(
                document, validate_formats=True, ignore_unknown_formats=False
            ).is_valid
        self._item_validators[key] = validator
        return validator

    def _plain(self, node: Any) -> dict[str, Any] | None:
        """``node`` after following ``$ref`` redirects (a ``$ref`` beside other assertions,
        or one that leaves the document: ``None``)."""
        for _ in range(32):
            if not isinstance(node, dict):
                return None
            ref = node.get("$ref")
            if ref is None:
                return node
            extra = [k for k in node if k not in _ANNOTATIONS and not k.startswith("x-")]
            if extra != ["$ref"] or not isinstance(ref, str) or not ref.startswith("#/"):
                return None
            node = self.schema
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                node = node.get(token) if isinstance(node, dict) else None
        return None

    def _reduce(self, value: Any, at: tuple[str | int, ...], cuts: list[_Cut]) -> Any:
        """A copy of ``value`` with each array longer than the window cut to it (noted in
        ``cuts``); arrays inside the kept items are cut too."""
        if isinstance(value, dict):
            return {k: self._reduce(v, (*at, k), cuts) for k, v in value.items()}
        if isinstance(value, list):
            kept = value
            if len(value) > self.window:
                cuts.append(_Cut(at, value))
                kept = value[: self.window]
            return [self._reduce(v, (*at, i), cuts) for i, v in enumerate(kept)]
        return value


_CHECKERS: dict[tuple[str, bool], _Checker] = {}


def _opened(node: Any) -> Any:
    """A copy of a schema with every ``additionalProperties: false`` dropped (the request
    schemas close the objects the documentation lists completely: the top level of both
    requests and ``patientContext``)."""
    if isinstance(node, dict):
        return {
            key: _opened(value)
            for key, value in node.items()
            if not (key == "additionalProperties" and value is False)
        }
    if isinstance(node, list):
        return [_opened(item) for item in node]
    return node


_ANNOTATIONS = frozenset({"$ref", "$comment", "description", "title", "examples", "default"})


def _path(at: tuple[str | int, ...]) -> str:
    from pytest_helios.payloads.validation import json_path

    return json_path(at)


def _keywords(node: Any) -> Iterator[tuple[str, Any]]:
    """Every ``(keyword, value)`` pair anywhere in a schema."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield key, value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _refs(node: Any) -> list[str]:
    return [v for k, v in _keywords(node) if k == "$ref" and isinstance(v, str)]


def _replaced(root: Any, at: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``root`` (copied only along ``at``) with ``value`` at ``at``."""
    if not at:
        return value
    head, rest = at[0], at[1:]
    if isinstance(root, dict):
        copied: Any = dict(root)
    else:
        copied = list(root)
    copied[head] = _replaced(root[head], rest, value)
    return copied
