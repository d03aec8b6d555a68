"""Every assumption of the project, as one table: the report and docs/assumptions.md read it.

Three kinds, each entry named by a key:

- a **documentation gap** (``gap:…``): one per item of the project's API notes, section 6 (what
  the Helios documentation leaves open), with the choice the project made there;
- an **emulator behaviour** (``behaviour:…``): what the embedded emulator must *do* where the
  documentation is silent;
- a **schema choice**: every ``x-helios-assumed`` spot of ``schemas/``, named by its location
  (``<schema file>#<JSON pointer>``), read from the schemas at run time.

An entry is observed by the contract tests themselves (they record under its key), or through
the entries it is ``covered_by`` (a gap the schemas decide takes their verdicts, so one
observation is never counted under two names), or never: then ``never_observed`` says why.
``markdown_page`` writes docs/assumptions.md from this table; a test compares the two.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pytest_helios.contract._assumptions import all_assumptions

GAP = "documentation gap"
BEHAVIOUR = "emulator behaviour"
SCHEMA = "schema choice"
KINDS = (GAP, BEHAVIOUR, SCHEMA)


@dataclass(frozen=True)
class Entry:
    """One assumption: its key, what the project assumes, where the gap is documented, and how
    a contract run observes it."""

    key: str
    kind: str
    title: str
    assumption: str
    source: str
    covered_by: tuple[str, ...] = ()
    never_observed: str = ""


def _gap(
    number: int,
    slug: str,
    title: str,
    assumption: str,
    source: str,
    *,
    covered_by: tuple[str, ...] = (),
    never_observed: str = "",
) -> Entry:
    source = f"helios-api.md section 6.{number}; {source}"
    return Entry(f"gap:{slug}", GAP, title, assumption, source, covered_by, never_observed)


def _behaviour(
    slug: str,
    title: str,
    assumption: str,
    *,
    covered_by: tuple[str, ...] = (),
    never_observed: str = "",
) -> Entry:
    source = "emulator.md, Assumptions"
    return Entry(
        f"behaviour:{slug}", BEHAVIOUR, title, assumption, source, covered_by, never_observed
    )


NOT_A_TARGET_BEHAVIOUR = "it is about the documentation itself: no answer of a target shows it"

GAPS = (
    _gap(
        1,
        "unsigned-timestamp",
        "The signature does not cover the timestamp",
        "Deliveries are signed `sha256=HMAC-SHA256(secret, raw body)`, the timestamp header "
        "unsigned; every delivery the suite receives must verify that way.",
        "[S:ehr-wh]",
    ),
    _gap(
        2,
        "retry-policy",
        "Retry policy and what counts as success",
        "A delivery not answered with a 2xx is retried (see behaviour:retries).",
        "[S:webhooks]",
        covered_by=("behaviour:retries",),
    ),
    _gap(
        3,
        "deduplication",
        "No event or delivery id",
        "`(runId, sequenceNumber)` identifies a delivery: no two different payloads of a run "
        "share a sequence number, and no event-id or idempotency header is sent.",
        "[S:webhooks], [S:ehr-wh]",
    ),
    _gap(
        4,
        "status-update-payload",
        "Status-update payload and the step lists",
        "One status update per step, shaped as webhook-status-update.json assumes.",
        "[S:webhooks], [S:lab-wh]",
        covered_by=("webhook-status-update.json#",),
    ),
    _gap(
        5,
        "error-webhook",
        "Error webhook payload",
        'The completion envelope with `status: "error"` and `error: {message, code?}`.',
        "[S:quickstart], [S:webhooks]",
        covered_by=("webhook-error.json#", "webhook-error.json#/properties/error/properties/code"),
    ),
    _gap(
        6,
        "sequence-numbers",
        "sequenceNumber versus steps",
        "Per run, from 1: a status update for every step (sequenceNumber = step), then the "
        "final payload or error webhook with the number of steps + 1: light 9 (its 8 documented "
        "steps), deep 8 and lab-results 8 (7 assumed steps each; lab-results keeps its "
        "documented final 8). This contradicts the documented light example's "
        "`sequenceNumber: 7`: the prose ('at each processing step', 8 light steps) was preferred, "
        "because a receiver tested against 9 webhooks with steps 1..8 also handles the live "
        "API's numbering if it is 7, since it must sort by sequenceNumber and recognise the "
        "final payload by its `status`. Against a target that sends 7, this entry is "
        "CONTRADICTED with the observed sequence numbers.",
        "[S:webhooks], [S:ehr-wh], [S:lab-wh]",
        covered_by=("definitions.json#/$defs/sequenceNumber",),
    ),
    _gap(
        7,
        "lab-webhook-url-required",
        "Is webhookUrl required for lab results?",
        "Required, as the guide's Required Fields say.",
        "[S:lab], [S:post-lab]",
        covered_by=("lab-results-request.json#",),
    ),
    _gap(
        8,
        "more-than-200-labs",
        "More than 200 labs",
        "Accepted and processed as the 200 most recent.",
        "[S:lab], [S:post-lab]",
        covered_by=("lab-results-request.json#/properties/labResults",),
    ),
    _gap(
        9,
        "age-types",
        "`age` is a number in patientInfo, a string in patientContext",
        "Both as documented: a light request with `age: 45` and a lab-results request with "
        '`age: "58"` are accepted.',
        "[S:ehr], [S:lab]",
    ),
    _gap(
        10,
        "ehr-data-categories",
        "The EHR `data` categories are incomplete",
        "`data` needs one category and allows unknown ones.",
        "[S:intro], [S:ehr]",
        covered_by=("agent-request.json#/$defs/data",),
    ),
    _gap(
        11,
        "webhook-url-scheme",
        "HTTPS requirement for webhookUrl",
        "Only an absolute URI is enforced by the schema.",
        "[S:ehr], [S:lab], [S:post-agent]",
        covered_by=("definitions.json#/$defs/webhookUrl",),
    ),
    _gap(
        12,
        "success-status",
        "Success status code",
        "An accepted request answers 200, never 202.",
        "[S:rate], [S:post-agent]",
    ),
    _gap(
        13,
        "no-api-key-on-webhooks",
        "`x-api-key` on the webhook pages",
        "A rendering artifact: deliveries carry no `x-api-key` header.",
        "[S:ehr-wh], [S:lab-wh]",
    ),
    _gap(
        14,
        "agent-field",
        "The optional `agent` field",
        "Every completed payload carries `agent`, naming the agent that ran "
        "(a payload without it is told apart by its result).",
        "[S:ehr-wh], [S:lab-wh]",
        covered_by=("webhook.json#/$defs/isLabResults",),
    ),
    _gap(
        15,
        "two-timestamps",
        "Two timestamp representations",
        "The body `timestamp` is an ISO 8601 date-time and `X-Helios-Timestamp` whole Unix "
        "seconds, both the time the webhook was sent: they lie within 300 s of each other.",
        "[S:ehr-wh]",
    ),
    _gap(
        16,
        "quickstart-handler",
        "The quickstart handler parses JSON before verifying",
        "Verify over the raw bytes; the quickstart's `express.json()` handler cannot.",
        "[S:quickstart]",
        never_observed=NOT_A_TARGET_BEHAVIOUR,
    ),
    _gap(
        17,
        "error-bodies-and-foreign-keys",
        "400 and 401 bodies; a key of a different account",
        "Bodies modelled on the 429 one; the foreign key as the emulator models it.",
        "[S:auth], [S:lab]",
        covered_by=("unauthorized-error.json#", "validation-error.json#", "behaviour:foreign-key"),
    ),
    _gap(
        18,
        "undocumented-statuses",
        "404, 405, 413 and the body size limit are not documented",
        "JSON `{error, message}` answers, as behaviour:not-found-body, "
        "behaviour:method-not-allowed-body and behaviour:size-limit say.",
        "(none found)",
        covered_by=(
            "behaviour:not-found-body",
            "behaviour:method-not-allowed-body",
            "behaviour:size-limit",
        ),
    ),
    _gap(
        19,
        "key-management-page",
        "Where keys are managed in the dashboard",
        "Irrelevant to the API: keys come from HELIOS_* variables.",
        "[S:auth]",
        never_observed=NOT_A_TARGET_BEHAVIOUR,
    ),
)

BEHAVIOURS = (
    _behaviour(
        "foreign-key",
        "A key of a different account",
        "Modelled by account-scoped base URLs (`<emulator>/accounts/<id>`): a valid key of "
        "another account sent there gets 401 `API key belongs to a different account`.",
    ),
    _behaviour(
        "concurrency-headers",
        "Which answers carry X-Concurrent-*",
        "Every answer carries the three headers, as documented; an answer that identifies no "
        "account (a 401, a 404) carries the limit with none active, and the EHR endpoint before "
        "its agentType is known the light agent's slots.",
    ),
    _behaviour(
        "auth-before-body",
        "Authentication before the body",
        "A bad key on a malformed body is a 401, not a 400.",
    ),
    _behaviour(
        "blank-key-is-missing",
        "A blank x-api-key",
        "An empty or blank `x-api-key` counts as missing (`Missing x-api-key header`).",
    ),
    _behaviour(
        "size-limit",
        "Request body size limit",
        "At most 5 MiB; a larger body is refused with 413 `Payload Too Large` before its "
        "content is read.",
    ),
    _behaviour(
        "json-strictness",
        "Strict JSON",
        "`NaN` and `Infinity` are refused with a 400 (JSON has neither); nesting at most 64 "
        "levels; `Content-Type` must be `application/json`.",
    ),
    _behaviour(
        "unknown-fields",
        "Unknown request fields and patientContext keys",
        "Refused with a 400 naming each one (strict, the default: a stricter emulator is the "
        "better test of a client, catching a typo'd field name the live API might silently "
        'ignore); `unknown_fields="lenient"` (`--helios-unknown-fields=lenient`) accepts and '
        "ignores them, still checking every known field. The documentation does not say "
        "what the API does.",
        covered_by=("agent-request.json#", "lab-results-request.json#/$defs/patientContext"),
    ),
    _behaviour(
        "webhook-url-loopback",
        "Which webhook URLs the emulator delivers to",
        "HTTPS, or `http://` to a loopback host (`require_https=True` refuses every "
        "`http://`); the probe sends an `http://` loopback URL.",
        covered_by=("definitions.json#/$defs/webhookUrl",),
    ),
    _behaviour(
        "not-found-body",
        "404 body",
        'An unknown path answers 404 `{"error": "Not Found", "message": ...}`.',
    ),
    _behaviour(
        "method-not-allowed-body",
        "405 body",
        'Another method on an endpoint answers 405 `{"error": "Method Not Allowed", '
        '"message": ...}` with `Allow: POST`.',
    ),
    _behaviour(
        "slot-release",
        "When a run frees its concurrency slot",
        "From acceptance until its final (or error) webhook's first attempt.",
        never_observed="a slot count is seen only in answers' headers, which the account's "
        "other runs change at any moment; the emulator's tests check it",
    ),
    _behaviour(
        "retries",
        "Retries and success",
        "Any 2xx delivers; any other answer or a timeout is retried: 4 attempts, 0.05 s base "
        "backoff, doubling, 5 s per attempt (the real values are likely longer). A delivery "
        "answered 503 once arrives again.",
    ),
    _behaviour(
        "first-attempt-order",
        "A webhook before the next step",
        "Each webhook's first attempt is made before the run's next step, so first attempts "
        "arrive in sequence order.",
    ),
    _behaviour(
        "signing-per-attempt",
        "The secret of each attempt",
        "Each attempt is signed with the secret current at that attempt.",
        never_observed="it needs the webhook secret regenerated between two attempts of one "
        "delivery, which no test can time against the live API",
    ),
    _behaviour(
        "run-durations",
        "Run durations",
        "The midpoints of the documented ranges, scaled by `time_scale`.",
        never_observed="the contract suite sets no timing thresholds",
    ),
    _behaviour(
        "webhook-secret-format",
        "Webhook secret format",
        "`whsec_` and 48 hex digits (no format is documented).",
    ),
    _behaviour(
        "synthetic-results",
        "Synthetic results",
        "Results are derived deterministically from the request.",
        never_observed="the emulator's own choice: the live API computes real results",
    ),
)


def _summary(description: str) -> str:
    start = description.find("Assumed")
    return description[start:] if start >= 0 else description


@functools.cache
def catalogue() -> tuple[Entry, ...]:
    """Every assumption: the gaps, the behaviours, then every schema choice in file order."""
    schema = tuple(
        Entry(a.location, SCHEMA, a.location, _summary(a.description), f"schemas/{a.file}")
        for a in all_assumptions()
    )
    return GAPS + BEHAVIOURS + schema


def by_key() -> dict[str, Entry]:
    return {entry.key: entry for entry in catalogue()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _how(entry: Entry) -> str:
    if entry.never_observed:
        return f"never: {entry.never_observed}"
    if entry.covered_by:
        return "through " + ", ".join(f"`{key}`" for key in entry.covered_by)
    if entry.kind == SCHEMA:
        return "every observed body validated against the schema; the request probes"
    return "the contract tests' own check"


REGENERATE = "python tests/contract/test_assumptions_catalogue.py"

_INTRO = f"""\
# Assumptions: every choice made where the Helios documentation is silent

<!-- Generated from pytest_helios/contract/_catalogue.py by `{REGENERATE}`;
     edit the table there, not this page (a test compares the two). -->

pytest-helios encodes what the Helios documentation says exactly. Where it is silent, it
chooses the behaviour closest to the documented pattern, marks the choice, and lists it here,
so that a contract run against the live API can confirm or correct it.

This page and the contract report are made from one table in the package, so they list the
same entries under the same keys. Run the contract suite with `--helios-live`
([contract-suite.md](contract-suite.md)); its report gives every entry below a verdict:
*confirmed*, *contradicted* with the observed value, or *not exercised* with the reason.
Against the embedded emulator every observable entry is confirmed, because the emulator is
built from them.

{{counts}}
"""

_SECTIONS = {
    GAP: (
        "## 1. Documentation gaps",
        "One entry per gap the project's API notes list (section 6), with the choice made.",
    ),
    BEHAVIOUR: (
        "## 2. The embedded emulator's behaviour",
        "Where the emulator must *do* something the documentation does not describe; details "
        "and reasons in [emulator.md](emulator.md#assumptions).",
    ),
    SCHEMA: (
        "## 3. Schema choices",
        'Marked `"x-helios-assumed": true` in `schemas/`, each named by its location; '
        "[schemas/README.md](../schemas/README.md#every-assumption) explains each one.",
    ),
}

_OUTRO = """\
## 4. Webhook verification

The documentation gives the signature formula and a sample verifier; `verify_webhook` decides
the cases the sample leaves open. Each decision is in the table of
[webhooks.md](webhooks.md#verify_webhook); in short: header names case-insensitive; a repeated
signature or timestamp header is malformed; the signature is exactly `sha256=` and 64 lowercase
hex digits, as the sample compares it; the timestamp is whole Unix seconds in ASCII digits;
the tolerance is 300 s in both directions, boundary included; several secrets may be given
(rotation). The `fake_webhook` variants whose verdict the documentation leaves open are marked
`either`: any answer but a crash.

## 5. What the project recommends because of the gaps

- **Deduplicate on `(runId, sequenceNumber)`**: no event or delivery id is documented, the
  timestamp is not signed (a replayed body with a fresh timestamp verifies), and deliveries may
  be retried. See [how-to-test-your-webhook-endpoint.md](how-to-test-your-webhook-endpoint.md).
- **Order by `sequenceNumber`**: documented; webhooks may arrive out of order.
- **Rotate the webhook secret with an overlap on your side**: Regenerate invalidates the old
  secret at once. See [how-to-rotate-the-webhook-secret.md](how-to-rotate-the-webhook-secret.md).
- **Cassettes are target-agnostic**: interactions are stored under `https://api.heliosai.health`
  and every `webhookUrl` as `https://webhook.invalid/helios`; replayed webhooks are re-signed
  with a fresh timestamp, which is sound only because the signature covers the raw body alone,
  as documented. See [how-to-record-cassettes.md](how-to-record-cassettes.md).
"""


def counts_line() -> str:
    entries = catalogue()
    per_kind = {kind: sum(1 for e in entries if e.kind == kind) for kind in KINDS}
    return (
        f"{len(entries)} assumptions: {per_kind[GAP]} documentation gaps, "
        f"{per_kind[BEHAVIOUR]} emulator behaviours, {per_kind[SCHEMA]} schema choices."
    )


def markdown_page() -> str:
    """docs/assumptions.md, as this table says it."""
    lines = [_INTRO.format(counts=counts_line())]
    for kind in KINDS:
        heading, text = _SECTIONS[kind]
        lines += [heading, "", text, "", "| key | assumption | source | how a run observes it |"]
        lines.append("|---|---|---|---|")
        for entry in catalogue():
            if entry.kind != kind:
                continue
            what = entry.assumption
            if entry.kind != SCHEMA:
                what = f"{entry.title}: {what}"
            lines.append(
                f"| `{entry.key}` | {_cell(what)} | {_cell(entry.source)} | {_cell(_how(entry))} |"
            )
        lines.append("")
    lines.append(_OUTRO)
    return "\n".join(lines)
