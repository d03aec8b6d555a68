"""Public Hypothesis strategies for every Helios request, response and webhook payload.

Each strategy generates plain JSON-ready dicts that validate against their schema in
``schemas/`` (the project's property tests check every one): realistic lab names with values,
units, reference ranges and flags, ISO dates, and free text with accents, other scripts and
emoji. Use them to test your own code against the contract::

    from hypothesis import given
    from pytest_helios import strategies

    @given(strategies.webhook_payloads(kind="lab-results-completed"))
    def test_my_handler_accepts_every_lab_results_webhook(payload):
        handle(payload)

This module imports Hypothesis; the plugin never imports it unless you do.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timezone
from typing import Any, Literal

from hypothesis import strategies as st

from pytest_helios import facts
from pytest_helios.facts import AGENTS, EHR_AGENT_TYPES, Agent, check_agent
from pytest_helios.payloads import builders as payloads
from pytest_helios.payloads.builders import FINAL_SEQUENCE_NUMBER

__all__ = [
    "WEBHOOK_KINDS",
    "accepted_responses",
    "agent_requests",
    "citations",
    "ehr_completed_webhooks",
    "ehr_data",
    "error_webhooks",
    "free_text",
    "lab_results",
    "lab_results_completed_webhooks",
    "lab_results_requests",
    "patient_contexts",
    "rate_limit_errors",
    "run_ids",
    "status_updates",
    "timestamps",
    "unauthorized_errors",
    "validation_errors",
    "webhook_payloads",
    "webhook_urls",
]

Payload = dict[str, Any]
WebhookKind = Literal["status-update", "ehr-completed", "lab-results-completed", "error"]

#: The ``kind`` values :func:`webhook_payloads` accepts.
WEBHOOK_KINDS: tuple[WebhookKind, ...] = (
    "status-update",
    "ehr-completed",
    "lab-results-completed",
    "error",
)

# name, unit, reference low, reference high, category, decimals
_LABS: tuple[tuple[str, str, float, float, str, int], ...] = (
    ("Creatinine", "mg/dL", 0.7, 1.3, "Renal", 1),
    ("eGFR", "mL/min/1.73m2", 60, 120, "Renal", 0),
    ("Blood Urea Nitrogen", "mg/dL", 7, 20, "Renal", 0),
    ("Hemoglobin A1c", "%", 4.0, 5.6, "Metabolic", 1),
    ("Glucose, Fasting", "mg/dL", 70, 99, "Metabolic", 0),
    ("Sodium", "mEq/L", 136, 145, "Electrolytes", 0),
    ("Potassium", "mEq/L", 3.5, 5.1, "Electrolytes", 1),
    ("Chloride", "mEq/L", 98, 107, "Electrolytes", 0),
    ("Total Cholesterol", "mg/dL", 125, 200, "Lipids", 0),
    ("LDL Cholesterol", "mg/dL", 0, 100, "Lipids", 0),
    ("HDL Cholesterol", "mg/dL", 40, 90, "Lipids", 0),
    ("Triglycerides", "mg/dL", 0, 150, "Lipids", 0),
    ("Hemoglobin", "g/dL", 13.5, 17.5, "Hematology", 1),
    ("White Blood Cell Count", "x10^3/µL", 4.5, 11.0, "Hematology", 1),
    ("Platelet Count", "x10^3/µL", 150, 400, "Hematology", 0),
    ("TSH", "mIU/L", 0.4, 4.0, "Endocrine", 2),
    ("Free T4", "ng/dL", 0.8, 1.8, "Endocrine", 2),
    ("Vitamin D, 25-Hydroxy", "ng/mL", 30, 100, "Nutritional", 0),
    ("Ferritin", "ng/mL", 24, 336, "Hematology", 0),
    ("ALT", "U/L", 7, 56, "Hepatic", 0),
    ("AST", "U/L", 10, 40, "Hepatic", 0),
    ("C-Reactive Protein", "mg/L", 0, 3.0, "Inflammatory", 1),
    ("Troponin I", "ng/mL", 0, 0.04, "Cardiac", 3),
)
_CONDITIONS = (
    "Type 2 Diabetes Mellitus",
    "Chronic Kidney Disease, Stage 3",
    "Essential Hypertension",
    "Hyperlipidemia",
    "Hypothyroidism",
    "Asthma",
    "Atrial Fibrillation",
    "Major Depressive Disorder",
)
_MEDICATIONS = (
    ("Metformin", "1000mg", "twice daily"),
    ("Lisinopril", "10mg", "once daily"),
    ("Atorvastatin", "40mg", "at bedtime"),
    ("Levothyroxine", "75mcg", "every morning"),
    ("Apixaban", "5mg", "twice daily"),
    ("Sertraline", "50mg", "once daily"),
)
_EMOJI = "👤🩺💊🧪❤️🫀🧬📈📉⚠️✅🙂"
_SNIPPETS = (
    "Patient reports fatigue",
    "Patientin berichtet über Müdigkeit",
    "Le patient signale une fatigue légère",
    "患者は疲労を訴えている",
    "Пациент жалуется на усталость",
    "المريض يشكو من التعب",
    "Fasting sample, drawn at 07:30",
    "Non-smoker; walks 30 min/day 🚶",
)


@functools.cache
def free_text(*, min_size: int = 0, max_size: int = 80) -> st.SearchStrategy[str]:
    """Free text as people type it: clinical phrases in several languages, emoji, and
    arbitrary Unicode (any character JSON can carry), ``min_size`` to ``max_size`` characters."""
    if not 0 <= min_size <= max_size:
        raise ValueError(f"need 0 <= min_size <= max_size, got {min_size} and {max_size}")
    arbitrary = st.text(
        st.characters(exclude_categories=["Cs"]), min_size=min_size, max_size=max_size
    )
    phrase = st.builds(
        lambda snippet, emoji: f"{snippet} {emoji}".strip()[:max_size],
        st.sampled_from(_SNIPPETS),
        st.sampled_from(("", *_EMOJI)),
    )
    if min_size > min(len(snippet) for snippet in _SNIPPETS):
        return arbitrary
    return st.one_of(phrase, arbitrary)


@functools.cache
def run_ids() -> st.SearchStrategy[str]:
    """Run ids: UUID strings, e.g. ``550e8400-e29b-41d4-a716-446655440000``."""
    return st.uuids().map(str)


@functools.cache
def _moments() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.just(timezone.utc),
    )


@functools.cache
def timestamps() -> st.SearchStrategy[str]:
    """Webhook body timestamps: ISO 8601 UTC with milliseconds and ``Z``."""
    return _moments().map(payloads.format_timestamp)


@functools.cache
def _dates() -> st.SearchStrategy[str]:
    return st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat)


@functools.cache
def _lab_dates() -> st.SearchStrategy[str]:
    offset = st.sampled_from(("Z", "+00:00", "-05:00", "+05:30", "+09:00"))
    date_time = st.builds(
        lambda moment, zone: moment.strftime("%Y-%m-%dT%H:%M:%S") + zone,
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31)),
        offset,
    )
    return st.one_of(_dates(), date_time)


@functools.cache
def webhook_urls() -> st.SearchStrategy[str]:
    """Webhook URLs: HTTPS URLs of plausible receivers, and ``http://`` on loopback."""
    segment = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
    path = st.lists(segment, max_size=3).map(lambda parts: "/" + "/".join(parts))
    host = st.sampled_from(
        ("your-server.com", "hooks.example.org", "api.clinic.example", "abc123.ngrok.app")
    )
    https = st.builds(lambda h, p: f"https://{h}{p}", host, path)
    loopback = st.builds(
        lambda port, p: f"http://127.0.0.1:{port}{p}", st.integers(1024, 65535), path
    )
    return st.one_of(https, loopback)


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


@functools.cache
def _lab_value(index: int) -> st.SearchStrategy[float]:
    _, _, low, high, _, _ = _LABS[index]
    span = (high - low) or 1.0
    return st.floats(min_value=max(0.0, low - span), max_value=high + span)


_LAB_INDEX = st.integers(0, len(_LABS) - 1)
_FLIP = st.booleans()


@st.composite
def _lab(draw: st.DrawFn) -> Payload:
    index = draw(_LAB_INDEX)
    name, unit, low, high, category, decimals = _LABS[index]
    span = (high - low) or 1.0
    shown = _number(draw(_lab_value(index)), decimals)
    numeric = float(shown)
    flag = "Low" if numeric < low else "High" if numeric > high else "Normal"
    if flag != "Normal" and (numeric > high + 0.75 * span or numeric < low - 0.75 * span):
        flag = "Critical"
    lab: Payload = {"name": name}
    if draw(_FLIP):
        lab["value"] = f"{shown} {unit}" if unit != "%" else f"{shown}%"
    else:
        lab["value"], lab["unit"] = shown, unit
    if draw(_FLIP):
        lab["flag"] = flag
    if draw(_FLIP):
        lab["referenceRange"] = f"{_number(low, decimals)}-{_number(high, decimals)} {unit}"
    if draw(_FLIP):
        lab["date"] = draw(_lab_dates())
    if draw(_FLIP):
        lab["category"] = category
    if draw(_FLIP):
        lab["notes"] = draw(free_text(max_size=60))
    return lab


@functools.cache
def lab_results() -> st.SearchStrategy[Payload]:
    """One lab result of a Lab Results request: a real test name, a value with its unit
    (inside ``value`` or in ``unit``), and optionally a flag consistent with the reference
    range, a date (``YYYY-MM-DD`` or an ISO 8601 date-time), a category and free-text notes."""
    return _lab()


@functools.cache
def _condition() -> st.SearchStrategy[Payload]:
    return st.fixed_dictionaries(
        {"name": st.sampled_from(_CONDITIONS)},
        optional={"status": st.sampled_from(("active", "resolved", "inactive"))},
    )


@functools.cache
def _medication() -> st.SearchStrategy[Payload]:
    return st.sampled_from(_MEDICATIONS).map(
        lambda med: {"name": med[0], "dosage": med[1], "frequency": med[2]}
    )


@functools.cache
def patient_contexts() -> st.SearchStrategy[Payload]:
    """A Lab Results ``patientContext``: every field optional, ``age`` a string, arrays within
    their documented limits (kept short here; the limits themselves are tested directly)."""
    return st.fixed_dictionaries(
        {},
        optional={
            "name": free_text(min_size=1, max_size=40),
            "age": st.integers(0, 110).map(str),
            "gender": st.sampled_from(("male", "female", "other", "unknown")),
            "conditions": st.lists(_condition(), max_size=5),
            "medications": st.lists(_medication(), max_size=5),
            "allergies": st.lists(st.sampled_from(("Penicillin", "Sulfa", "Latex")), max_size=3),
            "familyHistory": st.lists(
                st.sampled_from(("Father: myocardial infarction at 52", "Mother: T2DM")),
                max_size=2,
            ),
            "vitalSigns": st.lists(
                st.fixed_dictionaries(
                    {"display": st.just("Blood Pressure"), "value": st.just("138/88")}
                ),
                max_size=2,
            ),
            "socialHistory": free_text(max_size=60),
            "clinicalNotes": free_text(max_size=120),
        },
    )


def lab_results_requests(*, max_labs: int = 20) -> st.SearchStrategy[Payload]:
    """``POST /api/v1/lab-results`` bodies: a webhook URL, 1 to ``max_labs`` labs (more than
    200 is allowed: the server keeps the 200 most recent) and an optional patient context."""
    if max_labs < 1:
        raise ValueError(f"max_labs must be at least 1, got {max_labs}")
    return st.fixed_dictionaries(
        {
            "webhookUrl": webhook_urls(),
            "labResults": st.lists(lab_results(), min_size=1, max_size=max_labs),
        },
        optional={"patientContext": patient_contexts()},
    )


@st.composite
def _ehr_lab(draw: st.DrawFn, abnormal: bool) -> Payload:
    lab = draw(lab_results())
    value, _, unit = lab["value"].partition(" ")
    result: Payload = {
        "date": draw(_dates()),
        "display": lab["name"],
        "value": value.removesuffix("%"),
        "unit": lab.get("unit", unit or "%"),
    }
    if "referenceRange" in lab:
        result["referenceRange"] = lab["referenceRange"]
    if abnormal:
        result["interpretation"] = draw(st.sampled_from(("High", "Low", "Critical")))
    return result


@functools.cache
def ehr_data() -> st.SearchStrategy[Payload]:
    """The ``data`` of an EHR Agent request: at least one of ``patientInfo`` (``age`` a
    number), abnormal and normal labs, medical history, medications and vital signs."""
    categories = {
        "patientInfo": st.fixed_dictionaries(
            {},
            optional={
                "age": st.one_of(st.integers(0, 110), st.floats(0, 2).map(lambda x: round(x, 1))),
                "gender": st.sampled_from(("male", "female", "other")),
            },
        ),
        "recentAbnormalLabs": st.lists(_ehr_lab(abnormal=True), max_size=4),
        "recentNormalLabs": st.lists(_ehr_lab(abnormal=False), max_size=4),
        "pastMedicalHistory": st.lists(
            st.fixed_dictionaries(
                {"display": st.sampled_from(_CONDITIONS)},
                optional={
                    "clinicalStatus": st.sampled_from(("active", "resolved")),
                    "onsetDate": _dates(),
                },
            ),
            max_size=3,
        ),
        "medications": st.lists(
            st.sampled_from(_MEDICATIONS).map(
                lambda med: {
                    "medication": f"{med[0]} {med[1]}",
                    "status": "active",
                    "dosage": med[1],
                    "frequency": med[2],
                }
            ),
            max_size=3,
        ),
        "vitalSigns": st.lists(
            st.fixed_dictionaries(
                {
                    "display": st.just("Blood Pressure"),
                    "value": st.builds(
                        lambda s, d: f"{s}/{d}", st.integers(90, 190), st.integers(50, 120)
                    ),
                    "unit": st.just("mmHg"),
                    "date": _dates(),
                }
            ),
            max_size=2,
        ),
    }
    return st.fixed_dictionaries({}, optional=categories).filter(bool)


def agent_requests(
    *, agent_type: Literal["light", "deep"] | None = None
) -> st.SearchStrategy[Payload]:
    """``POST /api/v1/agent`` bodies: a webhook URL, ``agentType`` (``agent_type`` or either)
    and realistic patient ``data``."""
    if agent_type is None:
        types: tuple[str, ...] = EHR_AGENT_TYPES
    else:
        types = (check_agent(agent_type, EHR_AGENT_TYPES, "agent_type"),)
    return st.fixed_dictionaries(
        {"webhookUrl": webhook_urls(), "agentType": st.sampled_from(types), "data": ehr_data()}
    )


def accepted_responses() -> st.SearchStrategy[Payload]:
    """The 200 body of both endpoints, with and without the optional ``message``."""
    return st.builds(
        lambda run_id, message: (
            payloads.accepted_response(run_id, message)
            if message is not None
            else {"runId": run_id, "status": "accepted"}
        ),
        run_ids(),
        st.one_of(st.none(), st.just(facts.ACCEPTED_MESSAGE), free_text()),
    )


def validation_errors() -> st.SearchStrategy[Payload]:
    """Assumed 400 bodies with one to three ``(field, message)`` details."""
    field = st.sampled_from(
        ("", "webhookUrl", "agentType", "data.patientInfo.age", "labResults", "labResults[3].value")
    )
    message = st.sampled_from(
        ("is required", "must be a string", "must be one of light, deep", "must not be empty")
    )
    return st.lists(st.tuples(field, message), min_size=1, max_size=3).map(
        payloads.validation_error
    )


def unauthorized_errors() -> st.SearchStrategy[Payload]:
    """Assumed 401 bodies, one per documented cause."""
    return st.sampled_from(facts.UNAUTHORIZED_REASONS).map(payloads.unauthorized_error)


def rate_limit_errors() -> st.SearchStrategy[Payload]:
    """Documented 429 bodies for any agent at its concurrency limit."""
    return st.builds(
        lambda agent, limit: payloads.rate_limit_error(agent, limit, limit),
        st.sampled_from(AGENTS),
        st.integers(1, 50),
    )


@functools.cache
def _agents(agent: str | None) -> st.SearchStrategy[Agent]:
    if agent is None:
        return st.sampled_from(AGENTS)
    return st.just(check_agent(agent))


@st.composite
def _status_update(draw: st.DrawFn, agent: str | None) -> Payload:
    kind = draw(_agents(agent))
    step = draw(st.integers(1, FINAL_SEQUENCE_NUMBER[kind] - 1))
    return payloads.status_update(draw(run_ids()), kind, step, timestamp=draw(_moments()))


def status_updates(*, agent: str | None = None) -> st.SearchStrategy[Payload]:
    """Assumed progress webhooks of any step before the final payload, for ``agent`` (light,
    deep or lab-results) or any agent."""
    return _status_update(agent)


_CITATION_KIND = st.sampled_from(("pubmed", "pmc", "guideline", "insight"))
_PMID = st.integers(10_000_000, 39_999_999)
_SOURCE = st.sampled_from(("ADA", "KDIGO", "AHA", "pubmed.ncbi.nlm.nih.gov"))
_SPECIALTIES = st.lists(st.sampled_from(("Endocrinology", "Nephrology")), max_size=2)
_CITATION_COUNT = st.integers(0, 4)


@st.composite
def citations(draw: st.DrawFn) -> Payload:
    """``result.citations``: ``patient`` and ``clinician`` maps keyed "1", "2", ... with
    ``{url, title, metadata}`` entries of the documented metadata types."""

    def entries(count: int) -> Payload:
        mapping: Payload = {}
        for number in range(1, count + 1):
            metadata: Payload = {"type": draw(_CITATION_KIND)}
            if draw(_FLIP):
                metadata.update(
                    source=draw(_SOURCE),
                    pubdate=draw(_dates()),
                    specialties=draw(_SPECIALTIES),
                    abstract_snippet=draw(free_text(max_size=60)),
                )
            mapping[str(number)] = {
                "url": f"https://pubmed.ncbi.nlm.nih.gov/{draw(_PMID)}/",
                "title": draw(free_text(min_size=1, max_size=60)),
                "metadata": metadata,
            }
        return mapping

    return {"patient": entries(draw(_CITATION_COUNT)), "clinician": entries(draw(_CITATION_COUNT))}


@functools.cache
def _markdown(count: int) -> st.SearchStrategy[str]:
    markers = "".join(f" [{n}]" for n in range(1, count + 1))
    return free_text(max_size=80).map(
        lambda text: f"## 👤 Your Health Summary\n\n{text}{markers}\n\n## 📈 Timeline\n"
    )


def _drop_agent(payload: Payload, keep: bool) -> Payload:
    """``agent`` is optional in the completion webhooks; sometimes leave it out."""
    if not keep:
        del payload["agent"]
    return payload


_SELECTED_ELEMENTS = st.lists(
    st.builds(
        lambda lab, reason: {
            "item": lab["name"],
            "category": "Laboratory Value",
            "patient_value": lab["value"],
            "matching_reason": reason,
        },
        lab_results(),
        free_text(max_size=60),
    ),
    max_size=4,
)
_RESEARCH_TASKS = st.lists(free_text(min_size=1, max_size=60), min_size=1, max_size=3)
_EHR_AGENTS = st.sampled_from(EHR_AGENT_TYPES)


@st.composite
def _ehr_completed(draw: st.DrawFn, agent: str | None) -> Payload:
    kind = draw(_EHR_AGENTS) if agent is None else agent
    cited = draw(citations())
    payload = payloads.ehr_completed(
        draw(run_ids()),
        kind,
        timestamp=draw(_moments()),
        selected_elements=draw(_SELECTED_ELEMENTS),
        patient_response=draw(_markdown(len(cited["patient"]))),
        clinician_response=draw(_markdown(len(cited["clinician"]))),
        citations=cited,
        research_tasks=draw(_RESEARCH_TASKS) if kind == "deep" else None,
    )
    return _drop_agent(payload, draw(_FLIP) or draw(_FLIP))


def ehr_completed_webhooks(
    *, agent: Literal["light", "deep"] | None = None
) -> st.SearchStrategy[Payload]:
    """Completion webhooks of light or deep EHR runs (deep ones with ``researchTasks``);
    ``agent`` is occasionally left out, as the schema allows."""
    if agent is not None:
        check_agent(agent, EHR_AGENT_TYPES)
    return _ehr_completed(agent)


@st.composite
def _lab_results_completed(draw: st.DrawFn, max_labs: int) -> Payload:
    cited = draw(citations())
    payload = payloads.lab_results_completed(
        draw(run_ids()),
        draw(st.lists(lab_results(), min_size=1, max_size=max_labs)),
        timestamp=draw(_moments()),
        insights_matched=draw(st.integers(0, 40)),
        patient_response=draw(_markdown(len(cited["patient"]))),
        clinician_response=draw(_markdown(len(cited["clinician"]))),
        citations=cited,
    )
    return _drop_agent(payload, draw(_FLIP) or draw(_FLIP))


def lab_results_completed_webhooks(*, max_labs: int = 10) -> st.SearchStrategy[Payload]:
    """Completion webhooks of Lab Results runs for 1 to ``max_labs`` submitted labs, with
    units split out of values and ``metadata`` counting labs received and analysed."""
    if max_labs < 1:
        raise ValueError(f"max_labs must be at least 1, got {max_labs}")
    return _lab_results_completed(max_labs)


@st.composite
def _error_webhook(draw: st.DrawFn, agent: str | None) -> Payload:
    kind = draw(_agents(agent))
    return payloads.error_webhook(
        draw(run_ids()),
        kind,
        timestamp=draw(_moments()),
        sequence_number=draw(st.integers(1, FINAL_SEQUENCE_NUMBER[kind])),
        message=draw(free_text(min_size=1, max_size=80)),
        code=draw(st.sampled_from((None, "processing_failed", "timeout", "invalid_data"))),
    )


def error_webhooks(*, agent: str | None = None) -> st.SearchStrategy[Payload]:
    """Assumed error webhooks (``status: "error"``, ``error: {message, code?}``) for
    ``agent`` or any agent."""
    return _error_webhook(agent)


def webhook_payloads(*, kind: str | None = None) -> st.SearchStrategy[Payload]:
    """Any webhook delivery, or one ``kind``: ``status-update``, ``ehr-completed``,
    ``lab-results-completed`` or ``error`` (see :data:`WEBHOOK_KINDS`)."""
    by_kind: dict[str, st.SearchStrategy[Payload]] = {
        "status-update": status_updates(),
        "ehr-completed": ehr_completed_webhooks(),
        "lab-results-completed": lab_results_completed_webhooks(),
        "error": error_webhooks(),
    }
    if kind is None:
        return st.one_of(*by_kind.values())
    if kind not in WEBHOOK_KINDS:
        valid = ", ".join(WEBHOOK_KINDS)
        raise ValueError(f"{kind!r} is not a valid webhook kind. Valid values: {valid}")
    return by_kind[kind]
