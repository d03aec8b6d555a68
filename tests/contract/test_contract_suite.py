"""The contract suite, ``pytest --pyargs pytest_helios.contract``, run as users run it.

Against the embedded emulator it passes and confirms every assumption. Against a stand-in for
the live API whose 401 body differs from the assumed one (the emulator behind a small rewriting
proxy on loopback, with the keys in HELIOS_* variables as in live mode), it reports that
assumption as contradicted, with the observed body. The real API is never called.
"""

from __future__ import annotations

import fnmatch
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import pytest_helios.contract._assumptions
from pytest_helios.contract._catalogue import catalogue
from pytest_helios.contract._relay import Relay
from pytest_helios.payloads.validation import schema_directory

# The live stand-in of the fixtures' own tests: an emulator account whose keys are exported
# in HELIOS_* variables as a user exports the real ones.
from tests.plugin.test_live_target import LIVE_VARIABLES, stand_in

__all__ = ["stand_in"]

SUITE = ("--pyargs", "pytest_helios.contract", "-p", "no:cacheprovider")
OTHER_401 = {"error": "Unauthorized", "message": "Access denied"}
CONTRACT_VARIABLES = (
    "HELIOS_CONTRACT_EXTRA_RUNS",
    "HELIOS_CONTRACT_WEBHOOK_URL",
    "HELIOS_CONTRACT_WEBHOOK_PORT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (*LIVE_VARIABLES, *CONTRACT_VARIABLES):
        monkeypatch.delenv(variable, raising=False)


def assumed_locations() -> list[str]:
    """Every x-helios-assumed spot, found by reading the schema files here (not the suite)."""
    found = []

    def walk(node: Any, pointer: str, file: str) -> None:
        if isinstance(node, dict):
            if node.get("x-helios-assumed") is True:
                found.append(f"{file}#{pointer}")
            for key, value in node.items():
                walk(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}", file)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{pointer}/{index}", file)

    for path in sorted(schema_directory().glob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")), "", path.name)
    return found


PASSED = 37
#: (kinds) what the headline counts after the verdicts: every entry of the catalogue
KINDS = "(19 documentation gaps, 17 emulator behaviours, 28 schema choices)"


def headline(confirmed: int, contradicted: int, not_exercised: int) -> str:
    total = confirmed + contradicted + not_exercised
    return (
        f"{total} assumptions: {confirmed} confirmed, {contradicted} contradicted, "
        f"{not_exercised} not exercised {KINDS}"
    )


#: what the suite's runs cost at the documented prices (helios-api.md section 5, Pricing:
#: light $0.65, deep $3.50, lab results $0.65 [S:intro], [S:post-agent], [S:post-lab])
COST = (
    "runs started: 4 light ($2.60), 2 deep ($7.00), 7 lab-results ($4.55); $14.15 at the "
    "documented prices (light $0.65, deep $3.50, lab results $0.65 a run)"
)
NEVER_OBSERVED = [entry for entry in catalogue() if entry.never_observed]
OBSERVABLE = [entry for entry in catalogue() if not entry.never_observed]


def test_against_the_emulator_the_suite_passes_and_confirms_every_assumption(
    pytester: pytest.Pytester,
) -> None:
    """Every schema assumption, gap of helios-api.md section 6 and emulator behaviour is
    listed; every one a target's answers can show is confirmed, the others say why not."""
    result = pytester.runpytest(*SUITE)
    result.assert_outcomes(passed=PASSED)
    locations = assumed_locations()
    assert len(locations) == len(pytest_helios.contract._assumptions.all_assumptions())
    assert {e.key for e in catalogue()} >= set(locations)
    lines = []
    for entry in catalogue():
        if entry.never_observed:
            lines += [f"NOT EXERCISED {entry.key}", f"    why: {entry.never_observed}"]
        else:
            lines.append(f"CONFIRMED     {entry.key}*(* observations)")
    result.stdout.fnmatch_lines(
        [
            "*= helios contract: assumptions =*",
            *lines,
            headline(len(OBSERVABLE), 0, len(NEVER_OBSERVED)),
            COST,
            f"assumptions report written to {pytester.path / 'helios-contract-report.md'}",
        ]
    )
    report = (pytester.path / "helios-contract-report.md").read_text(encoding="utf-8")
    assert report.startswith("# Helios contract report\n\nTarget: embedded emulator. ")
    assert f"\n\nCost: {COST}.\n\n" in report
    for entry in OBSERVABLE:
        assert f"| `{entry.key}` | confirmed | " in report
    for entry in NEVER_OBSERVED:
        assert f"| `{entry.key}` | not exercised | why: {entry.never_observed} |" in report


def test_with_xdist_workers_the_controller_merges_their_records_into_one_report(
    pytester: pytest.Pytester,
) -> None:
    # one test file per worker at a time: no worker sees every assumption on its own
    result = pytester.runpytest_subprocess(*SUITE, "-n", "2", "--dist", "loadfile", timeout=120)
    result.assert_outcomes(passed=PASSED)
    result.stdout.fnmatch_lines(["created: 2/2 workers"])
    locations = assumed_locations()
    result.stdout.fnmatch_lines(
        [
            "*= helios contract: assumptions =*",
            headline(len(OBSERVABLE), 0, len(NEVER_OBSERVED)),
            COST,  # each worker counted its runs; the controller added them up
            f"assumptions report written to {pytester.path / 'helios-contract-report.md'}",
        ]
    )
    assert result.stdout.str().count("helios contract: assumptions") == 1
    report = (pytester.path / "helios-contract-report.md").read_text(encoding="utf-8")
    for location in locations:
        assert f"| `{location}` | confirmed | " in report


def test_a_worker_that_crashed_leaves_the_merged_report_marked_incomplete(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_crash="import os\n\ndef test_crash():\n    os._exit(3)\n")
    # (--dist load: pytest-xdist 3.8 fails internally replacing a crashed worker under loadfile)
    result = pytester.runpytest_subprocess(*SUITE, "test_crash.py", "-n", "2", timeout=120)
    result.assert_outcomes(passed=PASSED, failed=1)
    incomplete = (
        "INCOMPLETE: worker gw? ended abnormally and what it observed is missing; "
        "an assumption shown confirmed may have been contradicted there"
    )
    result.stdout.fnmatch_lines([incomplete])
    report = (pytester.path / "helios-contract-report.md").read_text(encoding="utf-8")
    assert fnmatch.fnmatch(report.splitlines()[4], f"**{incomplete}.**")


def test_the_report_goes_where_helios_contract_report_says(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhelios_contract_report = reports/from-ini.md\n")
    result = pytester.runpytest(
        *SUITE, "-k", "without_an_x_api_key", "--helios-contract-report=reports/contract.md"
    )
    result.assert_outcomes(passed=2)
    written = pytester.path / "reports" / "contract.md"
    result.stdout.fnmatch_lines([f"assumptions report written to {written}"])
    assert "| `unauthorized-error.json#` | confirmed | 401 for a missing header (x" in (
        written.read_text(encoding="utf-8")
    )
    assert not (pytester.path / "reports" / "from-ini.md").exists()


def test_no_report_is_written_when_the_contract_suite_did_not_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(helios_client): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "helios contract" not in result.stdout.str()
    assert not (pytester.path / "helios-contract-report.md").exists()


def test_a_bad_example_count_is_a_usage_error_naming_the_option(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(*SUITE, "--helios-contract-examples=many")
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'many' is not a valid --helios-contract-examples. "
            "Valid values: a whole number of examples, 1 or more."
        ]
    )


SUITE_FIXTURES = {
    "contract": "The session's assumptions recorder (its report is written at the end of the run).",
    "target": "Plain HTTP to the target's base URL (the test account's URL on the emulator).",
    "api_key": "The key of the account under test.",
    "revoked": "``revoked_key``, masked in reprs (live: HELIOS_REVOKED_API_KEY).",
    "foreign": "``foreign_key``, masked in reprs (live: HELIOS_FOREIGN_API_KEY).",
    "sink_url": "A webhookUrl for runs started only for their synchronous answer.",
}


def test_fixtures_lists_the_suites_fixtures_once_each_and_ends_cleanly(
    pytester: pytest.Pytester,
) -> None:
    """``--fixtures`` over the suite once ended in an INTERNALERROR (exit status 0), when each
    test module imported the shared fixtures: pytest found the same fixture in two modules."""
    result = pytester.runpytest(*SUITE, "--fixtures")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*- fixtures defined from pytest_helios.contract.conftest -*"])
    result.stdout.fnmatch_lines_random(
        [
            line
            for name, doc in SUITE_FIXTURES.items()
            for line in (f"{name} -- *pytest_helios/contract/conftest.py:*", f"    {doc}")
        ]
    )
    for name in SUITE_FIXTURES:
        assert len(fnmatch.filter(result.stdout.lines, f"{name} -- *")) == 1, name


def other_401(status: int, body: bytes) -> bytes:
    return json.dumps(OTHER_401).encode("utf-8") if status == 401 else body


@pytest.fixture
def live_stand_in(stand_in: str) -> Iterator[str]:
    """The live stand-in behind a loopback proxy that answers every 401 with OTHER_401."""
    emulator_url, _, account_id = stand_in.partition("/accounts/")
    with Relay(lambda path: emulator_url + path, rewrite=other_401) as proxy:
        yield f"{proxy.url}/accounts/{account_id}"


def test_a_live_target_with_another_401_body_is_reported_as_contradicting_the_assumption(
    pytester: pytest.Pytester, live_stand_in: str
) -> None:
    import os

    result = pytester.runpytest(
        *SUITE,
        "--helios-live",
        f"--helios-base-url={live_stand_in}",
        "--helios-contract-examples=3",
        "-rs",
    )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 10  # the five 401 properties, on both endpoints
    # whichever 401 case ran first is the evidence: the tests may run in any order
    result.stdout.fnmatch_lines(
        [
            "CONTRADICTED  unauthorized-error.json#",
            "    observed in 401 for *: $.message = 'Access denied' "
            "(expected one of 'Missing x-api-key header', 'Invalid API key', *)",
        ]
    )
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED *: HELIOS_CONTRACT_EXTRA_RUNS is not 1: the 429 contract needs as many "
            "concurrent light runs as the account's limit (7 by default, each a paid run)",
            "SKIPPED [[]3[]] *: HELIOS_CONTRACT_WEBHOOK_URL is not set: the live API delivers "
            "webhooks only to a public URL; set it to one that forwards to "
            "127.0.0.1:$HELIOS_CONTRACT_WEBHOOK_PORT",
        ]
    )
    report = (pytester.path / "helios-contract-report.md").read_text(encoding="utf-8")
    assert f"Target: live API at {live_stand_in}." in report
    assert re.search(
        r"\| `unauthorized-error\.json#` \| contradicted \| 401 for [^|]*: observed "
        r"`\$\.message = 'Access denied' \(expected one of",
        report,
    )
    assert "| `webhook-status-update.json#` | not exercised | why: the contract tests " in report
    # helios-api.md section 6.17: the 400 and 401 bodies are not documented; the stand-in's
    # 401 body differs from the assumed one, so that gap is contradicted, with what it saw
    result.stdout.fnmatch_lines(
        [
            "CONTRADICTED  gap:error-bodies-and-foreign-keys",
            "    observed in 401 for *: $.message = 'Access denied' (expected one of *",
        ]
    )
    assert re.search(
        r"\| `gap:error-bodies-and-foreign-keys` \| contradicted \| 401 for [^|]*: observed "
        r"`\$\.message = 'Access denied'",
        report,
    )
    everything = result.stdout.str() + report
    for variable in ("HELIOS_API_KEY", "HELIOS_REVOKED_API_KEY", "HELIOS_FOREIGN_API_KEY"):
        assert os.environ[variable] not in everything


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_live_webhooks_arrive_through_the_public_url_and_the_relay_on_the_given_port(
    pytester: pytest.Pytester, stand_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in's 'public URL' is the relay's own loopback address here."""
    port = free_port()
    monkeypatch.setenv("HELIOS_CONTRACT_WEBHOOK_URL", f"http://127.0.0.1:{port}/helios")
    monkeypatch.setenv("HELIOS_CONTRACT_WEBHOOK_PORT", str(port))
    result = pytester.runpytest(
        *SUITE, "-k", "test_webhooks", "--helios-live", f"--helios-base-url={stand_in}", "-rs"
    )
    result.assert_outcomes(passed=3, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "CONFIRMED     webhook-status-update.json#*(25 observations)",
            "SKIPPED [[]1[]] *: the live API cannot be made to fail a run on demand; the error "
            "webhook is checked against the emulator (provider state fail_next_run)",
        ]
    )
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] *: HELIOS_CONTRACT_EXTRA_RUNS is not 1: the retry contract starts *"]
    )


@pytest.fixture
def echoing_stand_in(stand_in: str) -> Iterator[str]:
    """The live stand-in behind a loopback proxy whose 401 bodies echo the account's keys."""
    import os

    keys = " ".join(os.environ[v] for v in ("HELIOS_REVOKED_API_KEY", "HELIOS_FOREIGN_API_KEY"))

    def echo(status: int, body: bytes) -> bytes:
        if status != 401:
            return body
        return json.dumps({"error": "Unauthorized", "message": f"Invalid API key {keys}"}).encode()

    emulator_url, _, account_id = stand_in.partition("/accounts/")
    with Relay(lambda path: emulator_url + path, rewrite=echo) as proxy:
        yield f"{proxy.url}/accounts/{account_id}"


def test_a_401_that_echoes_the_key_fails_the_check_without_printing_the_key(
    pytester: pytest.Pytester, echoing_stand_in: str
) -> None:
    import os

    result = pytester.runpytest(
        *SUITE,
        "-k",
        "revoked or another_account",
        "--helios-live",
        f"--helios-base-url={echoing_stand_in}",
        "--helios-contract-examples=2",
        "--tb=long",
        "-l",
        "-vv",
        "--junitxml=report.xml",
    )
    result.assert_outcomes(failed=4)
    shown = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "the junit XML": (pytester.path / "report.xml").read_text(encoding="utf-8"),
        "the report": (pytester.path / "helios-contract-report.md").read_text(encoding="utf-8"),
    }
    variables = ("HELIOS_API_KEY", "HELIOS_REVOKED_API_KEY", "HELIOS_FOREIGN_API_KEY")
    leaks = [
        (variable, where)
        for variable in variables
        for where, text in shown.items()
        if os.environ[variable] in text
    ]
    assert leaks == []
    revoked, foreign = (os.environ[v] for v in variables[1:])
    masked = f"sk_live_…{revoked[-4:]} sk_live_…{foreign[-4:]}"
    result.stdout.fnmatch_lines_random(
        [
            f"E * Failed: the 401 answer for a revoked key echoes the key sk_live_…{revoked[-4:]}: "
            f'401 {{"error": "Unauthorized", "message": "Invalid API key {masked}"}}',
            f"E * Failed: the 401 answer for a key of another account echoes the key "
            f'sk_live_…{foreign[-4:]}: 401 {{"error": "Unauthorized", '
            f'"message": "Invalid API key {masked}"}}',
        ]
    )
