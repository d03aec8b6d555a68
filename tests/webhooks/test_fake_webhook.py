"""The fake_webhook fixture: signed deliveries of every kind, named variants, runs, sending."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from pytest_helios import WebhookVerificationError, validate, verify_webhook
from pytest_helios.webhooks.fakes import KINDS, Delivery, WebhookFactory
from pytest_helios.webhooks.sending import serve_wsgi

NOW = 1_705_320_000
SECRET = "whsec_fixed_for_this_module_only"


@pytest.fixture
def factory() -> WebhookFactory:
    return WebhookFactory(SECRET, clock=lambda: NOW)


# --- as a user meets it -------------------------------------------------------------------------


def test_pytest_fixtures_lists_fake_webhook_and_the_secret_it_signs_with(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "fake_webhook -- *plugin.py:*",
            "    Factory of signed fake Helios webhooks: every kind, named variants, whole runs.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "helios_webhook_secret -- *plugin.py:*",
            "    The test account's current webhook secret (live: HELIOS_WEBHOOK_SECRET).",
        ]
    )


def test_a_user_verifies_a_fake_delivery_with_the_accounts_secret(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_helios import SignatureMismatch, verify_webhook

        @pytest.mark.parametrize("kind", ["light", "deep", "lab-results", "status-update", "error"])
        def test_my_handler_accepts(fake_webhook, helios_webhook_secret, kind):
            delivery = fake_webhook(kind)
            payload = verify_webhook(delivery.body, delivery.header_dict(), helios_webhook_secret)
            assert payload == delivery.payload

        def test_my_handler_rejects_a_tampered_body(fake_webhook, helios_webhook_secret):
            variant = fake_webhook("light").variant("tampered-body")
            assert (variant.expected, variant.error) == ("reject", "SignatureMismatch")
            with pytest.raises(SignatureMismatch):
                verify_webhook(variant.body, variant.header_dict(), helios_webhook_secret)

        def test_every_test_gets_a_fresh_secret(helios_webhook_secret, request):
            seen = request.config.cache.get("seen", [])
            assert helios_webhook_secret not in seen
            request.config.cache.set("seen", seen + [helios_webhook_secret])
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=7)
    result = pytester.runpytest("-k", "fresh")
    result.assert_outcomes(passed=1)


def test_a_failing_user_test_shows_the_variant_reason_and_never_the_secret(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_stale_is_rejected(fake_webhook, helios_webhook_secret):
            variant = fake_webhook("light").variant("stale-timestamp")
            print("factory:", fake_webhook, "variant:", variant)
            assert variant.expected == "accept", variant.reason
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "helios_webhook_secret = 'whsec_…*'",
            "E * AssertionError: sent 301 s in the past; the tolerance is 300 s either way, "
            "boundary included",
            "factory: WebhookFactory(secret='whsec_…*') variant: Variant(name='stale-timestamp', "
            "expected='reject', kind='light', run_id=*, sequence_number=9, timestamp=*, "
            "body=* bytes)",
        ]
    )
    assert not re.search(r"whsec_[0-9a-f]{8}", result.stdout.str())


# --- kinds and payloads -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_signed_over_its_exact_bytes_and_valid_against_the_schemas(
    factory: WebhookFactory, kind: str
) -> None:
    delivery = factory(kind)
    assert delivery.kind == kind
    validate("webhook", delivery.payload)
    assert verify_webhook(delivery.body, delivery.header_dict(), SECRET, now=NOW) == (
        delivery.payload
    )
    assert delivery.header_dict()["X-Helios-Timestamp"] == str(NOW)
    assert delivery.header_dict()["X-Helios-Run-ID"] == delivery.payload["runId"]  # type: ignore[index]


def test_the_completed_payloads_come_after_a_status_update_for_every_step(
    factory: WebhookFactory,
) -> None:
    """helios-api.md 3.5: a status update is sent "at each processing step" (8 light steps);
    the lab-results final keeps the documented "`sequenceNumber: 8`" (3.4)."""
    assert factory("light").sequence_number == 9
    assert factory("deep").sequence_number == 8
    assert factory("lab-results").sequence_number == 8
    assert factory("deep").payload["result"]["researchTasks"]  # type: ignore[index]
    assert "researchTasks" not in factory("light").payload["result"]  # type: ignore[index]


def test_the_body_is_compact_utf8_json_with_the_emoji_heading_unescaped(
    factory: WebhookFactory,
) -> None:
    body = factory("light").body
    assert "## 👤 Your Health Summary".encode() in body
    assert b'","status":"completed",' in body


def test_payload_fields_can_be_overridden_and_are_signed_as_sent(factory: WebhookFactory) -> None:
    delivery = factory("light", sequenceNumber=11, runId="run-1", timestamp=NOW - 10)
    payload = verify_webhook(delivery.body, delivery.header_dict(), SECRET, now=NOW)
    assert (payload["sequenceNumber"], payload["runId"]) == (11, "run-1")
    assert delivery.header_dict()["X-Helios-Timestamp"] == str(NOW - 10)
    assert delivery.header_dict()["X-Helios-Run-ID"] == delivery.run_id == "run-1"


def test_status_updates_and_errors_take_an_agent_and_a_step(factory: WebhookFactory) -> None:
    update = factory.status_update("deep", 4)
    assert update.payload is not None
    assert (update.payload["stepName"], update.payload["totalSteps"]) == (
        "Planning research tasks",
        7,
    )
    error = factory.error("lab-results", 2)
    assert error.payload is not None
    assert error.payload["sequenceNumber"] == 3
    assert (
        error.payload["error"]["message"] == "Processing failed during step 2 (Parsing lab results)"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda f: f("ehr"),
            "unknown webhook kind 'ehr'; valid kinds: light, deep, lab-results, status-update, "
            "error",
        ),
        (
            lambda f: f("status-update", agent="ehr"),
            "'ehr' is not a valid agent. Valid values: light, deep, lab-results",
        ),
        (lambda f: f("light", agent="deep"), "agent='deep' contradicts kind 'light'"),
        (lambda f: f.error("light", 9), "a light run can fail at steps 1 to 8, not 9"),
        (
            lambda f: f.completed("error"),
            "'error' is not a valid agent. Valid values: light, deep, lab-results",
        ),
        (lambda f: f.run("light", fail_at_step=0), "fail_at_step must be between 1 and 8, got 0"),
    ],
)
def test_bad_arguments_get_a_message_that_lists_the_valid_values(
    factory: WebhookFactory, call: Callable[[WebhookFactory], Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        call(factory)
    assert str(info.value) == message


def test_arbitrary_bytes_can_be_signed(factory: WebhookFactory) -> None:
    delivery = factory.sign(b"\xff not json", run_id="r")
    assert delivery.payload is None
    with pytest.raises(WebhookVerificationError, match="it is not UTF-8"):
        verify_webhook(delivery.body, delivery.header_dict(), SECRET, now=NOW)


# --- variants -----------------------------------------------------------------------------------


def outcome(delivery: Delivery, now: int) -> str | None:
    """None if verify_webhook accepts, else the name of the error it raises."""
    headers = list(delivery.headers)  # pairs keep a repeated header
    try:
        verify_webhook(delivery.body, headers, delivery.secret, now=now)
    except WebhookVerificationError as exc:
        return type(exc).__name__
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_every_variant_carries_the_verdict_verify_webhook_gives_it(
    factory: WebhookFactory, kind: str
) -> None:
    for variant in factory(kind).variants(now=NOW + 1000):
        actual = outcome(variant, NOW + 1000)
        assert variant.reason, variant.name
        if variant.expected == "either":
            continue
        assert (variant.expected, variant.error) == (
            "accept" if actual is None else "reject",
            actual,
        ), variant.name


def test_the_variants_cover_the_documented_pitfalls_by_name(factory: WebhookFactory) -> None:
    names = [variant.name for variant in factory("light").variants()]
    assert names == [
        "valid",
        "lowercase-header-names",
        "reserialization-canary",
        "non-ascii-body",
        "tampered-body",
        "tampered-whitespace",
        "wrong-secret",
        "previous-secret",
        "stale-timestamp",
        "future-timestamp",
        "timestamp-at-past-boundary",
        "timestamp-at-future-boundary",
        "millisecond-timestamp",
        "missing-signature",
        "missing-timestamp",
        "missing-run-id",
        "missing-content-type",
        "empty-signature",
        "signature-without-prefix",
        "signature-uppercase-prefix",
        "signature-uppercase-hex",
        "signature-too-short",
        "signature-too-long",
        "signature-non-ascii",
        "signature-sha1",
        "duplicate-signature-header",
        "timestamp-not-a-number",
        "timestamp-non-ascii-digits",
        "timestamp-with-fraction",
        "non-utf8-body",
        "json-array-body",
        "replayed-with-fresh-timestamp",
        "duplicate-delivery",
        "out-of-order",
    ]


def test_the_boundary_variants_sit_exactly_at_the_tolerance_both_ways(
    factory: WebhookFactory,
) -> None:
    delivery = factory("light")
    stamps = {
        v.name: v.timestamp - NOW
        for v in delivery.variants(now=NOW, tolerance=60)
        if "time" in v.name
    }
    assert stamps["stale-timestamp"] == -61
    assert stamps["future-timestamp"] == 61
    assert stamps["timestamp-at-past-boundary"] == -60
    assert stamps["timestamp-at-future-boundary"] == 60


def test_the_reserialization_canary_parses_to_the_same_payload_with_different_bytes(
    factory: WebhookFactory,
) -> None:
    delivery = factory("light")
    canary = delivery.variant("reserialization-canary")
    assert json.loads(canary.body) == delivery.payload
    assert canary.body != delivery.body
    assert b"\\u002d" in canary.body and b"\\/" in canary.body and b"\\ud83d" in canary.body
    assert json.dumps(json.loads(canary.body)).encode() != canary.body


def test_the_previous_secret_variant_uses_the_secret_from_before_the_regenerate() -> None:
    old = "whsec_old_secret_before_regenerate"
    factory = WebhookFactory(SECRET, clock=lambda: NOW, previous_secret=old)
    variant = factory("light").variant("previous-secret")
    assert verify_webhook(variant.body, variant.header_dict(), old, now=NOW)["sequenceNumber"] == 9


def test_the_replay_variant_has_the_same_body_and_a_fresh_timestamp(
    factory: WebhookFactory,
) -> None:
    old = factory("light", timestamp=NOW - 3600)
    replay = old.variant("replayed-with-fresh-timestamp", now=NOW)
    assert replay.body == old.body
    assert replay.key == old.key
    assert replay.timestamp == NOW + 1
    assert "deduplicate on (runId, sequenceNumber)" in replay.reason


def test_an_unknown_variant_name_lists_the_valid_ones(factory: WebhookFactory) -> None:
    with pytest.raises(LookupError, match=r"no variant 'stale'; valid variants: valid, lowercase"):
        factory("light").variant("stale")


# --- runs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("agent", "final"), [("light", 9), ("deep", 8), ("lab-results", 8)])
def test_a_run_is_status_updates_then_the_final_payload(
    factory: WebhookFactory, agent: str, final: int
) -> None:
    run = factory.run(agent)
    assert [d.sequence_number for d in run] == list(range(1, final + 1))
    assert [d.kind for d in run] == ["status-update"] * (final - 1) + [agent]
    assert len({d.run_id for d in run}) == 1
    for delivery in run:
        validate("webhook", delivery.payload)


def test_a_failing_run_ends_with_an_error_payload(factory: WebhookFactory) -> None:
    run = factory.run("deep", fail_at_step=3)
    assert [d.kind for d in run] == ["status-update"] * 3 + ["error"]
    assert run.final.sequence_number == 4


def test_a_run_can_be_shuffled_and_duplicated_keeping_its_keys(factory: WebhookFactory) -> None:
    run = factory.run("light")
    shuffled = run.shuffled(seed=3)
    assert [d.sequence_number for d in shuffled] != [d.sequence_number for d in run]
    assert sorted(shuffled.deliveries, key=lambda d: d.sequence_number or 0) == list(run)
    doubled = run.with_duplicates(2, seed=3)
    assert len(doubled) == 18
    assert doubled.keys == run.keys == [(run.final.run_id, n) for n in range(1, 10)]


# --- sending ------------------------------------------------------------------------------------

Environ = dict[str, Any]


def recording_wsgi_app(
    received: list[tuple[bytes, dict[str, str]]],
) -> Callable[[Environ, Callable[..., Any]], Iterable[bytes]]:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        headers = {k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_TYPE"))}
        received.append((body, headers))
        start_response("204 No Content", [])
        return [b""]

    return app


def test_a_delivery_is_sent_to_a_url_as_the_exact_signed_bytes(factory: WebhookFactory) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    delivery = factory("lab-results")
    with serve_wsgi(recording_wsgi_app(received), path="/hook") as url:
        response = delivery.send(url)
        responses = factory.run("light").shuffled().send(url)
    assert response.status_code == 204
    assert [r.status_code for r in responses] == [204] * 9
    body, headers = received[0]
    assert body == delivery.body
    assert headers["HTTP_X_HELIOS_SIGNATURE"] == delivery.header_dict()["X-Helios-Signature"]
    assert headers["CONTENT_TYPE"] == "application/json"


def test_a_delivery_is_handed_to_a_wsgi_app_in_process(factory: WebhookFactory) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    variant = factory("light").variant("signature-non-ascii")
    response = variant.deliver_to(recording_wsgi_app(received))
    assert response.status_code == 204
    body, headers = received[0]
    assert body == variant.body
    raw = headers["HTTP_X_HELIOS_SIGNATURE"].encode("latin-1")  # PEP 3333 native string
    assert raw.decode("utf-8").endswith("é")


def make_asgi_app(received: list[bytes]) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.body())
        payload = verify_webhook(received[-1], request.headers, SECRET, now=NOW)
        return JSONResponse({"seen": payload["sequenceNumber"]})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def test_a_delivery_is_handed_to_an_asgi_app_in_process(factory: WebhookFactory) -> None:
    received: list[bytes] = []
    delivery = factory("deep")
    response = delivery.deliver_to(make_asgi_app(received), path="/hook")
    assert (response.status_code, json.loads(response.content)) == (200, {"seen": 8})
    assert received == [delivery.body]


def test_an_asgi_app_can_be_reached_from_inside_a_running_event_loop(
    factory: WebhookFactory,
) -> None:
    received: list[bytes] = []
    app = make_asgi_app(received)

    async def from_async_test() -> int:
        return factory("light").deliver_to(app, path="/hook").status_code

    assert asyncio.run(from_async_test()) == 200


def test_an_app_that_raises_answers_500_naming_the_exception(factory: WebhookFactory) -> None:
    received: list[bytes] = []
    variant = factory("light").variant("tampered-body")
    response = variant.deliver_to(make_asgi_app(received), path="/hook")
    assert response.status_code == 500
    assert response.describe().startswith(
        "500 (the app raised SignatureMismatch: X-Helios-Signature does not match"
    )

    def wsgi_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise KeyError("HTTP_X_HELIOS_TIMESTAMP")

    assert variant.deliver_to(wsgi_app).describe() == (
        "500 (the app raised KeyError: 'HTTP_X_HELIOS_TIMESTAMP')"
    )


# --- hygiene ------------------------------------------------------------------------------------


def test_the_secret_never_appears_in_a_repr(factory: WebhookFactory) -> None:
    delivery = factory("light")
    assert SECRET not in repr(factory)
    assert SECRET not in repr(delivery)
    assert SECRET not in repr(delivery.variant("wrong-secret"))
    assert repr(factory) == "WebhookFactory(secret='whsec_…only')"


def test_loading_the_plugin_imports_neither_the_webhook_modules_nor_httpx() -> None:
    code = (
        "import sys, pytest_helios.plugin\n"
        "heavy = [m for m in ('pytest_helios.webhooks.fakes', "
        "'pytest_helios.webhooks.conformance', 'pytest_helios.webhooks.signing', "
        "'httpx', 'hypothesis', 'starlette') if m in sys.modules]\n"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
