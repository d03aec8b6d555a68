"""The cassette linter: one line per finding, non-zero exit on any.

It checks every cassette file for: a format problem (naming the file and the problem), a
known secret or key-shaped string anywhere, a secret header or key whose value is not
``[REDACTED]``, a patient identifier that is not a pseudonym, a contract violation, and an
age beyond the maximum. Run it as ``pytest --helios-lint-cassettes`` or
``helios-cassettes lint [PATH ...]``.
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
from pytest_helios.cassettes.persister import parse_time, read_document
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
    for name, values in headers.items():
        if rules.is_secret_header(str(name)) and any(v != REDACTED for v in values):
            yield f"{where}, header {name}: secret header not redacted"
    query = urlsplit(str(message.get("uri", ""))).query
    if query:
        yield from _pairs_findings(query, f"{where}, query parameter", rules)
    body = message.get("body")
    if isinstance(body, Mapping):
        body = body.get("string")
    content_type = " ".join(str(v) for v in headers.get("content-type", ()))
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
    """The findings for one cassette file, each prefixed with the file (or ``shown``)."""
    rules = rules or Rules.with_additions(identifying=schema_checks.identifying_paths())
    shown = shown or str(path)
    webhooks = path.name.endswith(".webhooks.yaml")
    try:
        document = read_document(path, items="deliveries" if webhooks else "interactions")
    except CassetteFormatError as error:
        return [f"{shown}: {error.problem}"]
    except OSError as error:
        return [f"{shown}: cannot read ({error.strerror})"]
    lines = [str(f) for f in scan_bytes(path.read_bytes(), secrets=secrets)]
    if webhooks:
        for index, delivery in enumerate(document["deliveries"]):
            lines += _message_findings(delivery, f"delivery {index},", rules)
        lines += schema_checks.check_webhooks(document["deliveries"])
    else:
        for index, interaction in enumerate(document["interactions"]):
            for part in ("request", "response"):
                lines += _message_findings(interaction[part], f"interaction {index}, {part}", rules)
        lines += schema_checks.check_document(document)
    if max_age_days is not None:
        recorded = parse_time(document["helios"]["recorded_at"])
        age = ((now or dt.datetime.now(dt.timezone.utc)) - recorded) / dt.timedelta(days=1)
        if age > max_age_days:
            lines.append(
                f"recorded {age:.0f} days ago ({document['helios']['recorded_at']}), "
                f"more than the maximum age of {max_age_days:g} days"
            )
    return [f"{shown}: {_masked(line, secrets)}" for line in dict.fromkeys(lines)]


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


def main(argv: Sequence[str] | None = None) -> int:
    """``helios-cassettes lint [PATH ...] [--max-age DAYS]``."""
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
    arguments = parser.parse_args(argv)
    if arguments.max_age is not None and arguments.max_age <= 0:
        parser.error(f"argument --max-age: {arguments.max_age:g} is not a positive number")
    checked, findings = lint(arguments.paths, max_age_days=arguments.max_age)
    return _report(checked, findings, print)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
