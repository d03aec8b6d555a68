"""The cassette linter: one line per finding, non-zero exit on any.

It checks every cassette file for: a format problem (naming the file and the problem), a
known secret or key-shaped string anywhere, a secret header or key whose value is not
``[REDACTED]``, a patient identifier that is not a pseudonym, a contract violation, and an
age beyond the maximum. Run it as ``pytest --helios-lint-cassettes`` or
``helios-cassettes lint [PATH ...]``. Every YAML file it is given is read in bounded time
(`persister.load_yaml`: no anchors or aliases, a size limit) and scanned for secrets, a plain
vcrpy cassette included; ``helios-cassettes migrate FILE`` turns such a cassette into a
scrubbed pytest-helios one, written only if it lints clean.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pytest_helios.cassettes import schema_checks
from pytest_helios.cassettes.config import shown_path
from pytest_helios.cassettes.persister import check_document, load_yaml, parse_time, read_file
from pytest_helios.cassettes.scan import KEY_PATTERNS, scan_bytes
from pytest_helios.cassettes.scrub import PSEUDONYM_RE, REDACTED, Rules, environment_secrets
from pytest_helios.exceptions import CassetteFormatError


def cassette_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def _json_findings(value: Any, path: tuple[str, ...], where: str, rules: Rules) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = (*path, str(key))
            shown = f"{where} $." + ".".join(child).replace(".[", "[")
            if rules.is_secret_key(str(key)) and item not in (None, "", REDACTED):
                yield f"{shown}: secret key not redacted"
            elif rules.identifying_kind(child) is not None and not _pseudonymized(item):
                yield f"{shown}: patient identifier not pseudonymized"
            else:
                yield from _json_findings(item, child, where, rules)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_findings(item, (*path, f"[{index}]"), where, rules)


def _pseudonymized(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_pseudonymized(v) for v in value.values())
    if isinstance(value, list):
        return all(_pseudonymized(v) for v in value)
    return value is None or isinstance(value, bool) or bool(PSEUDONYM_RE.fullmatch(str(value)))


def _pairs_findings(query: str, where: str, rules: Rules) -> Iterator[str]:
    """A query string's or a form body's parameters, checked as the scrubber treats them."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if rules.is_secret_key(name) and value not in ("", REDACTED):
            yield f"{where} {name}: secret parameter not redacted"
        elif rules.identifying_kind((name,)) is not None and not _pseudonymized(value):
            yield f"{where} {name}: patient identifier not pseudonymized"


def _message_findings(message: Mapping[str, Any], where: str, rules: Rules) -> Iterator[str]:
    headers = message.get("headers") or {}
    if not isinstance(headers, Mapping):
        headers = {}
    for name, values in headers.items():
        listed = values if isinstance(values, list) else [values]
        if rules.is_secret_header(str(name)) and any(v != REDACTED for v in listed):
            yield f"{where}, header {name}: secret header not redacted"
    query = urlsplit(str(message.get("uri", ""))).query
    if query:
        yield from _pairs_findings(query, f"{where}, query parameter", rules)
    body = message.get("body")
    if isinstance(body, Mapping):
        body = body.get("string")
    content_type = " ".join(
        str(v)
        for name, values in headers.items()
        if str(name).lower() == "content-type"
        for v in (values if isinstance(values, list) else [values])
    )
    if isinstance(body, str) and content_type.startswith("application/x-www-form-urlencoded"):
        yield from _pairs_findings(body, f"{where}, form field", rules)
    elif isinstance(body, str) and body.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(body)
        except ValueError:
            return
        yield from _json_findings(parsed, (), f"{where} body", rules)


def lint_file(
    path: Path,
    *,
    secrets: Mapping[str, str],
    max_age_days: float | None = None,
    now: dt.datetime | None = None,
    rules: Rules | None = None,
    shown: str | None = None,
) -> list[str]:
    """The findings for one YAML file, each prefixed with the file (or ``shown``).

    A file that cannot be read (too large, not UTF-8, not YAML, anchors or aliases) is one
    finding. Any other is scanned for secrets whatever it is; a pytest-helios cassette is
    also checked field by field, against the contract and for age, and a plain vcrpy (or
    pytest-recording) cassette field by field, with a finding that says how to migrate it.
    """
    rules = rules or Rules.with_additions(identifying=schema_checks.identifying_paths())
    shown = shown or str(path)
    webhooks = path.name.endswith(".webhooks.yaml")
    items = "deliveries" if webhooks else "interactions"
    try:
        data = read_file(path)
        loaded = load_yaml(data, path)
    except CassetteFormatError as error:
        return [f"{shown}: {error.problem}"]
    except OSError as error:
        return [f"{shown}: cannot read ({error.strerror})"]
    lines: list[str] = []
    try:
        document = check_document(loaded, path, items=items)
    except CassetteFormatError as error:
        document = None
        if _is_foreign_cassette(loaded):
            lines.append(
                "not a pytest-helios cassette (no 'helios' provenance section): convert it "
                f"with: helios-cassettes migrate {shown}"
            )
        else:
            lines.append(error.problem)
    lines += [str(f) for f in scan_bytes(data, secrets=secrets)]
    if document is None:
        if _is_foreign_cassette(loaded):
            for index, interaction in enumerate(loaded["interactions"]):
                for part in ("request", "response"):
                    if isinstance(interaction.get(part), Mapping):
                        where = f"interaction {index}, {part}"
                        lines += _message_findings(interaction[part], where, rules)
    elif webhooks:
        for index, delivery in enumerate(document["deliveries"]):
            lines += _message_findings(delivery, f"delivery {index},", rules)
        lines += schema_checks.check_webhooks(document["deliveries"])
    else:
        for index, interaction in enumerate(document["interactions"]):
            for part in ("request", "response"):
                lines += _message_findings(interaction[part], f"interaction {index}, {part}", rules)
        lines += schema_checks.check_document(document)
    if document is not None and max_age_days is not None:
        recorded = parse_time(document["helios"]["recorded_at"])
        age = ((now or dt.datetime.now(dt.timezone.utc)) - recorded) / dt.timedelta(days=1)
        if age > max_age_days:
            lines.append(
                f"recorded {age:.0f} days ago ({document['helios']['recorded_at']}), "
                f"more than the maximum age of {max_age_days:g} days"
            )
    return [f"{shown}: {_masked(line, secrets)}" for line in dict.fromkeys(lines)]


def _is_foreign_cassette(document: Any) -> bool:
    """A vcrpy cassette (pytest-recording's too): interactions of request and response."""
    return (
        isinstance(document, dict)
        and "helios" not in document
        and isinstance(document.get("interactions"), list)
        and all(
            isinstance(i, dict) and isinstance(i.get("request"), dict)
            for i in document["interactions"]
        )
    )


def _masked(line: str, secrets: Mapping[str, str]) -> str:
    """A finding as it may be printed: a contract violation quotes the offending value, which
    can hold the very secret another finding reports; no secret is ever shown."""
    for value in secrets:
        if value:
            line = line.replace(value, REDACTED)
    for _label, pattern in KEY_PATTERNS:
        line = pattern.sub(REDACTED, line)
    return line


def lint(
    paths: Sequence[Path],
    *,
    max_age_days: float | None = None,
    extra_secrets: Mapping[str, str] | None = None,
    rules: Rules | None = None,
    relative_to: Path | None = None,
) -> tuple[int, list[str]]:
    """(number of cassettes checked, findings) for files and directories."""
    secrets = {**environment_secrets(), **(extra_secrets or {})}
    files = list(cassette_files(paths))
    findings: list[str] = []
    for file in files:
        shown = str(file) if relative_to is None else shown_path(file, relative_to)
        findings += lint_file(
            file, secrets=secrets, max_age_days=max_age_days, rules=rules, shown=shown
        )
    missing = [p for p in paths if not p.exists()]
    findings += [f"{p}: no such file or directory" for p in missing]
    return len(files), findings


def _report(checked: int, findings: list[str], write: Any) -> int:
    for line in findings:
        write(line)
    noun = "cassette" if checked == 1 else "cassettes"
    if findings:
        write(f"helios-cassettes: {len(findings)} finding(s) in {checked} {noun}")
        return 1
    write(f"helios-cassettes: {checked} {noun} checked, no findings")
    return 0


def lint_for_pytest(config: Any) -> int:
    """``pytest --helios-lint-cassettes``: lint the configured cassette directory and exit."""
    from pytest_helios.cassettes.config import check_max_age, from_ini

    settings = from_ini(config)
    option_dir = config.getoption("helios_cassette_dir")
    directory = Path(option_dir) if option_dir else settings.cassette_dir
    if not directory.is_absolute():
        directory = config.rootpath / directory
    max_age = check_max_age(
        "--helios-cassette-max-age", config.getoption("helios_cassette_max_age")
    )
    rules = Rules.with_additions(
        secret_headers=settings.secret_headers,
        secret_keys=settings.secret_keys,
        identifying=(*settings.identifying_keys, *schema_checks.identifying_paths()),
    )
    checked, findings = lint(
        [directory] if directory.exists() else [],
        max_age_days=max_age if max_age is not None else settings.max_age_days,
        rules=rules,
        relative_to=config.rootpath,
    )
    return _report(checked, findings, print)


def migrate(
    source: Path,
    *,
    output: Path | None = None,
    in_place: bool = False,
    target_urls: Sequence[str] = (),
) -> tuple[int, list[str]]:
    """``helios-cassettes migrate``: a vcrpy (or pytest-recording) cassette scrubbed into a
    pytest-helios one, written only if it lints clean; (exit status, lines to print).

    The original is left as it is unless ``in_place``; ``output`` defaults to
    ``<name>.helios.yaml`` beside it. Pseudonyms are keyed with the project's salt
    (``HELIOS_PSEUDONYM_SALT``, else ``.helios/pseudonym-salt`` of the current directory,
    made if absent), so run it from the rootdir; ``target_urls`` are stored under the
    canonical host.
    """
    from pytest_helios.cassettes.persister import dump, provenance, write_atomically
    from pytest_helios.cassettes.salt import ProjectSalt
    from pytest_helios.cassettes.scrub import BodyNotReadable, Scrubber, SecretBook

    target = source if in_place else (output or source.with_name(source.stem + ".helios.yaml"))
    try:
        loaded = load_yaml(read_file(source), source)
    except CassetteFormatError as error:
        return 1, [f"{source}: {error.problem}. Nothing was written."]
    except OSError as error:
        return 1, [f"{source}: cannot read ({error.strerror}). Nothing was written."]
    if isinstance(loaded, dict) and "helios" in loaded:
        return 0, [f"{source}: already a pytest-helios cassette; nothing to do"]
    if not _is_foreign_cassette(loaded):
        return 1, [
            f"{source}: not a vcrpy cassette (no list of interactions with a request and a "
            "response). Nothing was written."
        ]
    if target.exists() and not in_place:
        return 1, [
            f"{target}: exists already; name another with --output, or replace the original "
            "with --in-place. Nothing was written."
        ]
    book = SecretBook()
    for value, label in environment_secrets().items():
        book.add(value, label)
    rules = Rules.with_additions(
        identifying=schema_checks.identifying_paths(),
        target_urls=tuple(target_urls),
        salt=ProjectSalt(Path.cwd()),
    )
    scrubber = Scrubber(rules, book)
    interactions = []
    try:
        for interaction in loaded["interactions"]:
            request = scrubber.scrub_request(interaction["request"])
            response = scrubber.scrub_response(interaction.get("response") or {})
            request["body"] = _stored(request["body"]) or None
            response["body"]["string"] = _stored(response["body"]["string"])
            interactions.append({"request": request, "response": response})
    except BodyNotReadable as reason:
        return 1, [f"{source}: {reason}"]
    data = dump(
        {
            "helios": {**provenance("unknown"), "migrated_from": "vcrpy"},
            **{"interactions": interactions},
        }
    )
    findings = [
        f"{target}: {finding}"
        for finding in scan_bytes(
            data, secrets=book.labels(), identifiers=scrubber.identifier_labels()
        )
    ]
    if not findings:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            candidate = Path(folder) / target.name
            candidate.write_bytes(data)
            findings = lint_file(candidate, secrets=book.labels(), rules=rules, shown=str(target))
    if findings:
        return 1, [
            *findings,
            f"helios-cassettes: {source} was not migrated: the result would not lint clean "
            f"({len(findings)} finding(s)). Nothing was written.",
        ]
    write_atomically(target, data)
    count = len(interactions)
    noun = "interaction" if count == 1 else "interactions"
    return 0, [f"helios-cassettes: migrated {source} to {target} ({count} {noun}), lint clean"]


def _stored(body: Any) -> Any:
    """A body as the cassette stores it: text when it is UTF-8, else its bytes."""
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    return body


def main(argv: Sequence[str] | None = None) -> int:
    """``helios-cassettes lint [PATH ...] [--max-age DAYS]``,
    ``helios-cassettes migrate FILE [--output PATH | --in-place] [--target-url URL]`` and
    ``helios-cassettes drift OLD NEW``."""
    parser = argparse.ArgumentParser(
        prog="helios-cassettes", description="Check pytest-helios cassettes."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    lint_parser = commands.add_parser(
        "lint", help="check cassettes for secrets, identifiers, contract violations and age"
    )
    lint_parser.add_argument(
        "paths", nargs="*", type=Path, default=[Path("cassettes")], help="files or directories"
    )
    lint_parser.add_argument(
        "--max-age", type=float, default=None, metavar="DAYS", help="maximum age in days"
    )
    migrate_parser = commands.add_parser(
        "migrate",
        help="turn a vcrpy or pytest-recording cassette into a scrubbed pytest-helios one",
    )
    migrate_parser.add_argument("file", type=Path, help="the vcrpy cassette")
    where = migrate_parser.add_mutually_exclusive_group()
    where.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="where to write (default <name>.helios.yaml)",
    )
    where.add_argument("--in-place", action="store_true", help="replace the original")
    migrate_parser.add_argument(
        "--target-url",
        action="append",
        default=[],
        metavar="URL",
        help="a base URL stored as https://api.heliosai.health (repeatable)",
    )
    drift_parser = commands.add_parser(
        "drift", help="what changed between two recordings, in the contract's terms"
    )
    drift_parser.add_argument("old", type=Path, help="the earlier recording (file or folder)")
    drift_parser.add_argument("new", type=Path, help="the later recording (file or folder)")
    arguments = parser.parse_args(argv)
    if arguments.command == "drift":
        from pytest_helios.cassettes import drift

        return drift.main(arguments.old, arguments.new, print)
    if arguments.command == "migrate":
        status, lines = migrate(
            arguments.file,
            output=arguments.output,
            in_place=arguments.in_place,
            target_urls=arguments.target_url,
        )
        for line in lines:
            print(line)
        return status
    if arguments.max_age is not None and arguments.max_age <= 0:
        parser.error(f"argument --max-age: {arguments.max_age:g} is not a positive number")
    checked, findings = lint(arguments.paths, max_age_days=arguments.max_age)
    return _report(checked, findings, print)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
