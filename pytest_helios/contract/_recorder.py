"""The contract run's record of every assumption, and the report made from it.

One :class:`ContractRecorder` per run, kept by the contract plugin's session (created by the
first contract test). Tests feed it observed bodies (:meth:`ContractRecorder.check`) and behaviour
(:meth:`ContractRecorder.confirm` / :meth:`ContractRecorder.contradict`); at the end of the
session the plugin asks it to write the Markdown report and print the terminal section.
Observed values are shortened and every key or secret the run used is masked before it is kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_helios.contract._assumptions import exercised, owner
from pytest_helios.contract._catalogue import BEHAVIOUR, GAP, KINDS, SCHEMA, Entry, catalogue
from pytest_helios.masking import mask_text, shorten

if TYPE_CHECKING:
    from pytest_helios.payloads.validation import Violation

CONFIRMED = "confirmed"
CONTRADICTED = "contradicted"
NOT_EXERCISED = "not exercised"
_OBSERVED_LIMIT = 300


@dataclass
class Record:
    """What the run saw of one assumption itself (an entry ``covered_by`` others also takes
    their verdicts: :meth:`ContractRecorder.verdict`)."""

    entry: Entry
    confirmations: dict[str, int] = field(default_factory=dict)
    contradictions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def own_verdict(self) -> str:
        if self.contradictions:
            return CONTRADICTED
        return CONFIRMED if self.confirmations else NOT_EXERCISED


class ContractRecorder:
    """Collects, for each ``x-helios-assumed`` choice, the observations that confirm or
    contradict it (thread-safe; webhooks arrive on other threads)."""

    def __init__(self, report_path: Path, target: str = "emulator") -> None:
        self.report_path = report_path
        self.target = target
        self.records = {entry.key: Record(entry) for entry in catalogue()}
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self.skipped: list[tuple[str, str]] = []
        #: runs the target accepted, per agent (what they cost at the documented prices)
        self.runs: dict[str, int] = {}
        #: pytest-xdist workers that ended abnormally: what they observed is missing
        self.lost_workers: list[str] = []

    # --- feeding ---------------------------------------------------------------------------

    def add_secret(self, value: str) -> None:
        """Never keep ``value`` in an observed value: it is masked wherever it appears."""
        if value:
            with self._lock:
                self._secrets.add(value)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = list(self._secrets)
        return shorten(mask_text(text, secrets), _OBSERVED_LIMIT)

    def _record(self, location: str) -> Record:
        try:
            return self.records[location]
        except KeyError:
            raise KeyError(f"no assumption {location!r} in the catalogue") from None

    def confirm(self, location: str, source: str) -> None:
        """One observation agreed with the assumption ``location`` (a schema location or a
        catalogue key such as ``gap:success-status``)."""
        with self._lock:
            counts = self._record(location).confirmations
            counts[source] = counts.get(source, 0) + 1

    def contradict(self, location: str, source: str, observed: str) -> None:
        """One observation disagreed with the assumption at ``location``: ``observed`` is what
        the target did instead (masked and shortened before it is kept)."""
        seen = (source, self.redact(observed))
        with self._lock:
            contradictions = self._record(location).contradictions
            if seen not in contradictions:
                contradictions.append(seen)

    def run_started(self, agent: str) -> None:
        """The target accepted a run of ``agent``: counted in the run's cost."""
        with self._lock:
            self.runs[agent] = self.runs.get(agent, 0) + 1

    def cost(self) -> str:
        """The runs this contract run started and what they cost at the documented prices."""
        from pytest_helios.facts import PRICES_USD

        with self._lock:
            runs = dict(self.runs)
        parts, total = [], 0.0
        for agent, price in PRICES_USD.items():
            count = runs.get(agent, 0)
            if count:
                total += count * price
                parts.append(f"{count} {agent} (${count * price:.2f})")
        shown = ", ".join(parts) or "none"
        return (
            f"runs started: {shown}; ${total:.2f} at the documented prices "
            f"(light ${PRICES_USD['light']:.2f}, deep ${PRICES_USD['deep']:.2f}, "
            f"lab results ${PRICES_USD['lab-results']:.2f} a run)"
        )

    def check(self, schema_name: str, instance: object, source: str) -> None:
        """Validate an observed body, record every assumption it exercised, then raise the
        ``ContractViolation`` if it does not conform."""
        __tracebackhide__ = True
        from pytest_helios.exceptions import ContractViolation
        from pytest_helios.payloads.validation import validate

        violations: tuple[Violation, ...] = ()
        try:
            validate(schema_name, instance)
        except ContractViolation as exc:
            violations = exc.violations
        for assumption in exercised(schema_name, instance):
            mine = [v for v in violations if owner(v.schema_location) == assumption]
            if mine:
                observed = "; ".join(f"{v.path} = {v.value} ({v.message})" for v in mine)
                self.contradict(assumption.location, source, observed)
            else:
                self.confirm(assumption.location, source)
        if violations:
            raise ContractViolation(schema_name, violations)

    # --- reporting -------------------------------------------------------------------------

    def _covering(self, record: Record) -> list[Record]:
        """The record itself and those of the entries it is covered by."""
        return [record, *(self.records[key] for key in record.entry.covered_by)]

    def verdict(self, key: str) -> str:
        """Contradicted when it or an entry covering it was; else confirmed when any of them
        was observed; else not exercised."""
        verdicts = {r.own_verdict for r in self._covering(self.records[key])}
        for verdict in (CONTRADICTED, CONFIRMED):
            if verdict in verdicts:
                return verdict
        return NOT_EXERCISED

    def contradictions(self, key: str) -> list[tuple[str, str]]:
        return [seen for r in self._covering(self.records[key]) for seen in r.contradictions]

    def observations(self, key: str) -> int:
        return sum(sum(r.confirmations.values()) for r in self._covering(self.records[key]))

    def reason(self, key: str) -> str:
        """Why an entry was not exercised."""
        entry = self.records[key].entry
        if entry.never_observed:
            return entry.never_observed
        if entry.covered_by:
            return "none of " + ", ".join(entry.covered_by) + " was observed"
        if self.skipped:
            return "the contract tests that observe it did not run (see the skipped tests)"
        return "no contract test observed anything it applies to"

    def counts(self) -> dict[str, int]:
        found = {CONFIRMED: 0, CONTRADICTED: 0, NOT_EXERCISED: 0}
        for key in self.records:
            found[self.verdict(key)] += 1
        return found

    def _headline(self) -> str:
        counts = self.counts()
        kinds = [r.entry.kind for r in self.records.values()]
        return (
            f"{len(self.records)} assumptions: {counts[CONFIRMED]} confirmed, "
            f"{counts[CONTRADICTED]} contradicted, {counts[NOT_EXERCISED]} not exercised "
            f"({kinds.count(GAP)} documentation gaps, {kinds.count(BEHAVIOUR)} emulator "
            f"behaviours, {kinds.count(SCHEMA)} schema choices)"
        )

    def terminal_summary(self, reporter: pytest.TerminalReporter) -> None:
        reporter.write_sep("=", "helios contract: assumptions")
        width = max(len(key) for key in self.records)
        for key in self.records:
            verdict = self.verdict(key)
            line = f"{verdict.upper():<14}{key:<{width}}"
            if verdict == CONFIRMED:
                line += f"  ({self.observations(key)} observations)"
            reporter.write_line(line.rstrip(), red=verdict == CONTRADICTED)
            for source, observed in self.contradictions(key)[:3]:
                reporter.write_line(f"    observed in {source}: {observed}")
            if verdict == NOT_EXERCISED:
                reporter.write_line(f"    why: {self.reason(key)}")
        reporter.write_line(self._headline())
        reporter.write_line(self.cost())
        if self.lost_workers:
            reporter.write_line(self._incomplete(), red=True)
        reporter.write_line(f"assumptions report written to {self.report_path}")

    def _incomplete(self) -> str:
        workers = ", ".join(self.lost_workers)
        return (
            f"INCOMPLETE: worker {workers} ended abnormally and what it observed is missing; "
            "an assumption shown confirmed may have been contradicted there"
        )

    def _evidence(self, key: str) -> str:
        verdict = self.verdict(key)
        if verdict == CONTRADICTED:
            shown = [f"{src}: observed `{seen}`" for src, seen in self.contradictions(key)]
            return _cell("; ".join(shown[:5]))
        if verdict == NOT_EXERCISED:
            return _cell(f"why: {self.reason(key)}")
        counted: dict[str, int] = {}
        for record in self._covering(self.records[key]):
            for source, count in record.confirmations.items():
                counted[source] = counted.get(source, 0) + count
        return _cell(", ".join(f"{src} (x{n})" for src, n in sorted(counted.items())))

    def markdown(self, target: str) -> str:
        lines = [
            "# Helios contract report",
            "",
            f"Target: {target}. {self._headline()}.",
            "",
            f"Cost: {self.cost()}.",
            "",
            "Every assumption of the project (docs/assumptions.md lists the same entries), with "
            "what this run observed: **confirmed** (observations agreed and none disagreed), "
            "**contradicted** (the target did something else: the observed value is shown) or "
            "**not exercised** (with the reason).",
        ]
        if self.lost_workers:
            lines[4:4] = [f"**{self._incomplete()}.**", ""]
        for kind in KINDS:
            lines += ["", f"## Every {kind}", "", "| assumption | verdict | evidence |"]
            lines.append("|---|---|---|")
            for key, record in self.records.items():
                if record.entry.kind == kind:
                    lines.append(f"| `{key}` | {self.verdict(key)} | {self._evidence(key)} |")
        lines += ["", "## What each assumption says", ""]
        for key, record in self.records.items():
            lines.append(f"- `{key}`: {_cell(record.entry.assumption)}")
        if self.skipped:
            lines += ["", "## Contract tests that did not run", ""]
            lines += [f"- `{nodeid}`: {_cell(reason)}" for nodeid, reason in self.skipped]
        return "\n".join(lines) + "\n"

    def skip(self, nodeid: str, reason: str) -> None:
        """A contract test did not run: listed in the report with its reason."""
        with self._lock:
            self.skipped.append((nodeid, reason))

    # --- pytest-xdist: each worker records, the controller merges and reports ---------------

    def state(self) -> dict[str, Any]:
        """What this run saw, as plain data a pytest-xdist worker can send to its controller
        (observed values are already masked; the secrets themselves are never sent)."""
        with self._lock:
            return {
                "records": {
                    location: {
                        "confirmations": dict(record.confirmations),
                        "contradictions": [list(seen) for seen in record.contradictions],
                    }
                    for location, record in self.records.items()
                    if record.confirmations or record.contradictions
                },
                "skipped": [list(skipped) for skipped in self.skipped],
                "runs": dict(self.runs),
            }

    def merge(self, state: dict[str, Any]) -> None:
        """Add what another run (an xdist worker) saw, as :meth:`state` gave it."""
        with self._lock:
            for location, seen in state["records"].items():
                record = self._record(location)
                for source, count in seen["confirmations"].items():
                    record.confirmations[source] = record.confirmations.get(source, 0) + count
                for source, observed in seen["contradictions"]:
                    if (source, observed) not in record.contradictions:
                        record.contradictions.append((source, observed))
            for agent, count in state.get("runs", {}).items():
                self.runs[agent] = self.runs.get(agent, 0) + count
            for nodeid, reason in state["skipped"]:
                if (nodeid, reason) not in self.skipped:  # --dist each runs it on every worker
                    self.skipped.append((nodeid, reason))

    def write_report(self) -> None:
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        self.report_path.write_text(self.markdown(self.target), encoding="utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def recorder_for(config: pytest.Config) -> ContractRecorder:
    """The run's recorder, created on first use (the report is only written then)."""
    from pytest_helios.contract import _session

    return _session.of(config).recorder_for_run()
