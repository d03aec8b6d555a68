"""The conformance kits catch real, deliberately flawed verifiers and endpoints, by case name.

Every flawed verifier and app below is real code that receives real bytes: nothing is mocked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from pytest_helios import WebhookVerificationError, verify_webhook
from pytest_helios.webhooks.conformance import (
    CASE_NAMES,
    PROPERTY_NAMES,
    cases,
    check_endpoint,
    check_verifier,
)
from pytest_helios.webhooks.fakes import WebhookFactory
from pytest_helios.webhooks.sending import serve_wsgi

SECRET = "whsec_" + secrets.token_hex(16)


def failure_of(check: Callable[[], None]) -> str:
    with pytest.raises(AssertionError) as info:
        check()
    return str(info.value)


# --- verifiers ----------------------------------------------------------------------------------


def correct(body: bytes, headers: dict[str, str], secret: str, now: int | None = None) -> bool:
    try:
        verify_webhook(body, headers, secret, now=now)
    except WebhookVerificationError:
        return False
    return True


def correct_on_wall_clock(body: bytes, headers: dict[str, str], secret: str) -> bool:
    return correct(body, headers, secret)


def header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def hex_hmac(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def fresh(headers: dict[str, str]) -> bool:
    timestamp = header(headers, "X-Helios-Timestamp") or ""
    return timestamp.isascii() and timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300


def reserializing(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """Signs json.dumps(json.loads(body)) instead of the raw bytes (like express.json())."""
    signature = header(headers, "X-Helios-Signature") or ""
    try:
        raw = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        return False
    return fresh(headers) and signature == "sha256=" + hex_hmac(secret, raw)


def without_timestamp_check(body: bytes, headers: dict[str, str], secret: str) -> bool:
    signature = header(headers, "X-Helios-Signature") or ""
    return signature == "sha256=" + hex_hmac(secret, body)


def past_only_timestamp_check(body: bytes, headers: dict[str, str], secret: str) -> bool:
    timestamp = header(headers, "X-Helios-Timestamp") or ""
    if not (timestamp.isascii() and timestamp.isdigit()) or time.time() - int(timestamp) > 300:
        return False
    return without_timestamp_check(body, headers, secret)


def accepting_uppercase(body: bytes, headers: dict[str, str], secret: str) -> bool:
    signature = (header(headers, "X-Helios-Signature") or "").lower()
    return fresh(headers) and hmac.compare_digest(signature, "sha256=" + hex_hmac(secret, body))


def crashing_on_non_ascii(body: bytes, headers: dict[str, str], secret: str) -> bool:
    body.decode("ascii")  # a handler that assumes ASCII bodies
    return correct(body, headers, secret)


def case_sensitive(body: bytes, headers: dict[str, str], secret: str) -> bool:
    signature = headers.get("X-Helios-Signature", "")
    return fresh(headers) and signature == "sha256=" + hex_hmac(secret, body)


def test_a_correct_verifier_with_an_injectable_clock_passes_every_case_and_property() -> None:
    check_verifier(correct, secret=SECRET)


def test_a_correct_verifier_on_its_own_wall_clock_passes_too() -> None:
    check_verifier(correct_on_wall_clock)


def test_a_reserializing_verifier_is_caught_by_the_canary_and_the_whitespace_case() -> None:
    message = failure_of(lambda: check_verifier(reserializing, properties=False))
    assert message.splitlines()[:3] == [
        "the verifier failed 2 conformance check(s):",
        "  reserialization-canary: expected accept, got reject; case: valid, but spaced, "
        "key-reversed and \\u-escaped: a handler that verifies re-serialized JSON instead of the "
        "raw bytes breaks on it",
        "  tampered-whitespace: expected reject, got accept; case: a newline appended after "
        "signing: same JSON, different bytes",
    ]


def test_a_verifier_without_a_timestamp_check_is_caught_both_ways() -> None:
    message = failure_of(lambda: check_verifier(without_timestamp_check))
    assert (
        "  stale-timestamp: expected reject, got accept; case: sent 301 s in the past; "
        "the tolerance is 300 s either way, boundary included"
    ) in message.splitlines()
    assert "  future-timestamp: expected reject, got accept;" in message
    assert "  millisecond-timestamp: expected reject, got accept;" in message
    assert (
        "  property two-sided-tolerance: expected it to hold, got a counterexample: "
        "expected reject, got accept for a timestamp"
    ) in message


def test_a_verifier_that_checks_the_timestamp_one_way_only_is_caught() -> None:
    message = failure_of(lambda: check_verifier(past_only_timestamp_check))
    assert "  future-timestamp: expected reject, got accept;" in message
    assert "stale-timestamp" not in message


def test_a_verifier_that_accepts_uppercase_hex_is_caught() -> None:
    message = failure_of(lambda: check_verifier(accepting_uppercase, properties=False))
    assert message.splitlines() == [
        "the verifier failed 3 conformance check(s):",
        "  signature-uppercase-prefix: expected reject, got accept; case: malformed signature: "
        "'SHA256=' instead of 'sha256='",
        "  signature-uppercase-hex: expected reject, got accept; case: malformed signature: "
        "the digest in uppercase hex",
        "  signature-non-ascii: expected reject, got a crash (TypeError: comparing strings "
        "with non-ASCII characters is not supported); case: malformed signature: a non-ASCII "
        "character in the digest",
    ]


def test_a_verifier_that_crashes_on_non_ascii_bodies_is_caught_as_a_crash() -> None:
    message = failure_of(lambda: check_verifier(crashing_on_non_ascii))
    assert "  non-ascii-body: expected accept, got a crash (UnicodeDecodeError: 'ascii' codec" in (
        message
    )
    assert "  non-utf8-body: expected accept or reject (never a crash), got a crash" in message
    assert "  property any-body: expected it to hold, got a counterexample:" in message


def test_a_case_sensitive_header_lookup_is_caught() -> None:
    message = failure_of(lambda: check_verifier(case_sensitive, properties=False))
    assert "  lowercase-header-names: expected accept, got reject;" in message


def test_an_async_verifier_is_awaited_and_checked_like_any_other() -> None:
    async def async_correct(body: bytes, headers: dict[str, str], secret: str, now: int) -> bool:
        return correct(body, headers, secret, now)

    async def async_without_timestamp_check(
        body: bytes, headers: dict[str, str], secret: str
    ) -> bool:
        return without_timestamp_check(body, headers, secret)

    check_verifier(async_correct, max_examples=10)
    message = failure_of(lambda: check_verifier(async_without_timestamp_check, properties=False))
    assert "  stale-timestamp: expected reject, got accept;" in message


def test_a_verifier_that_returns_something_other_than_a_bool_is_a_failure() -> None:
    message = failure_of(
        lambda: check_verifier(lambda body, headers, secret: "yes", properties=False)
    )
    assert "  valid: expected accept, got a non-bool return value 'yes';" in message


def test_the_cases_are_the_variants_of_a_delivery_plus_one_valid_delivery_per_kind() -> None:
    """Every variant of a delivery (test_fake_webhook.py lists them), then other kinds."""
    variants = [variant.name for variant in WebhookFactory(SECRET)("light").variants()]
    assert (
        *variants,
        "deep-completed",
        "lab-results-completed",
        "status-update",
        "error",
    ) == CASE_NAMES
    assert [case.name for case in cases(now=123)] == list(CASE_NAMES)
    assert PROPERTY_NAMES == (
        "round-trip",
        "body-mutation",
        "two-sided-tolerance",
        "garbage-headers",
        "any-body",
    )


# --- the pytest-native form ---------------------------------------------------------------------


def test_subclassing_verifier_conformance_gives_one_passing_test_per_case(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from pytest_helios import WebhookVerificationError, verify_webhook
        from pytest_helios.webhooks.conformance import VerifierConformance

        class TestMyVerifier(VerifierConformance):
            max_examples = 20

            def accepts(self, body, headers, secret):
                try:
                    verify_webhook(body, headers, secret)
                except WebhookVerificationError:
                    return False
                return True
        """
    )
    result = pytester.runpytest("-v")
    result.stdout.re_match_lines_random(  # the tests may run in any order
        [
            r".*TestMyVerifier::test_conformance_case\[reserialization-canary\] PASSED.*",
            r".*TestMyVerifier::test_conformance_property\[two-sided-tolerance\] PASSED.*",
        ]
    )
    result.assert_outcomes(passed=len(CASE_NAMES) + len(PROPERTY_NAMES))


def test_a_flawed_verifier_fails_the_named_tests_with_the_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import hashlib, hmac
        from pytest_helios.webhooks.conformance import VerifierConformance

        class TestUppercaseTolerant(VerifierConformance):
            max_examples = 20

            def accepts(self, body, headers, secret, now):
                lower = {k.lower(): v for k, v in headers.items()}
                expected = "sha256=" + hmac.new(secret.encode(), body, "sha256").hexdigest()
                timestamp = lower.get("x-helios-timestamp", "")
                if not (timestamp.isascii() and timestamp.isdigit()):
                    return False
                if abs(now - int(timestamp)) > 300:
                    return False
                given = lower.get("x-helios-signature", "")
                return given.isascii() and given.lower() == expected
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines_random(  # the tests may run in any order
        [
            "E   AssertionError: signature-uppercase-prefix: expected reject, got accept; case: "
            "malformed signature: 'SHA256=' instead of 'sha256='",
            "E   AssertionError: signature-uppercase-hex: expected reject, got accept; case: "
            "malformed signature: the digest in uppercase hex",
        ]
    )
    result.stdout.re_match_lines_random(
        [
            r"FAILED .*TestUppercaseTolerant::test_conformance_case\[signature-uppercase-prefix\]",
            r"FAILED .*TestUppercaseTolerant::test_conformance_case\[signature-uppercase-hex\]",
        ]
    )
    result.assert_outcomes(passed=len(CASE_NAMES) + len(PROPERTY_NAMES) - 2, failed=2)


# --- endpoints ----------------------------------------------------------------------------------

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def wsgi_headers(environ: Environ) -> list[tuple[str, str]]:
    return [
        (key[5:].replace("_", "-"), value.encode("latin-1").decode("utf-8", "replace"))
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]


def make_wsgi_app(
    *, dedupe: bool = True, crash_on_bad_timestamp: bool = False, process_first: bool = False
) -> tuple[Callable[[Environ, StartResponse], Iterable[bytes]], list[tuple[str, int]]]:
    """A receiver like a user's; the flags plant one defect each."""
    processed: list[tuple[str, int]] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if crash_on_bad_timestamp:
            int(environ["HTTP_X_HELIOS_TIMESTAMP"])  # KeyError/ValueError -> 500
        if process_first:
            try:
                payload = json.loads(body)
                processed.append((payload["runId"], payload["sequenceNumber"]))
            except (ValueError, KeyError, TypeError):
                pass
        try:
            payload = verify_webhook(body, wsgi_headers(environ), SECRET)
        except WebhookVerificationError as exc:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [str(exc).encode()]
        key = (payload.get("runId"), payload.get("sequenceNumber"))
        if not process_first and (not dedupe or key not in processed):
            processed.append(key)  # type: ignore[arg-type]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app, processed


def make_asgi_app(*, crash_on_bad_signature: bool = False) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hook(request: Request) -> PlainTextResponse:
        body = await request.body()
        if crash_on_bad_signature:
            _algorithm, digest = request.headers["x-helios-signature"].split("=")
            bytes.fromhex(digest)
        try:
            verify_webhook(body, request.headers, SECRET)
        except WebhookVerificationError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/webhooks/helios", hook, methods=["POST"])])


def test_a_correct_wsgi_endpoint_passes_including_exactly_once() -> None:
    app, processed = make_wsgi_app()
    check_endpoint(app, secret=SECRET, processed=lambda: processed)
    assert len(processed) == len(set(processed)) > 8


def test_a_wsgi_endpoint_that_500s_on_malformed_timestamps_is_caught() -> None:
    app, _ = make_wsgi_app(crash_on_bad_timestamp=True)
    message = failure_of(lambda: check_endpoint(app, secret=SECRET))
    lines = message.splitlines()
    assert lines[0] == "the endpoint failed 4 conformance check(s):"
    assert lines[1] == (
        "  missing-timestamp: expected 4xx, got 500 (the app raised KeyError: "
        "'HTTP_X_HELIOS_TIMESTAMP'); case: no X-Helios-Timestamp header"
    )
    assert lines[2] == (
        "  timestamp-not-a-number: expected 4xx, got 500 (the app raised ValueError: invalid "
        "literal for int() with base 10: 'yesterday'); case: malformed timestamp: a timestamp "
        "that is not a number"
    )
    assert lines[3].startswith("  timestamp-non-ascii-digits: expected 4xx, got 500")
    assert lines[4].startswith("  timestamp-with-fraction: expected 4xx, got 500")


def test_a_correct_asgi_endpoint_passes() -> None:
    check_endpoint(make_asgi_app(), secret=SECRET, path="/webhooks/helios")


def test_an_asgi_endpoint_that_500s_on_malformed_signatures_is_caught() -> None:
    app = make_asgi_app(crash_on_bad_signature=True)
    message = failure_of(lambda: check_endpoint(app, secret=SECRET, path="/webhooks/helios"))
    assert (
        "  missing-signature: expected 4xx, got 500 (the app raised KeyError: "
        "'x-helios-signature'); case: no X-Helios-Signature header"
    ) in message.splitlines()
    assert (
        "  signature-without-prefix: expected 4xx, got 500 (the app raised ValueError: not "
        "enough values to unpack (expected 2, got 1)); case: malformed signature: the hex "
        "digest without 'sha256='"
    ) in message.splitlines()
    assert "  signature-non-ascii: expected 4xx, got 500 (the app raised ValueError:" in message
    assert "valid:" not in message


def test_an_endpoint_that_processes_duplicates_twice_fails_the_exactly_once_check() -> None:
    app, processed = make_wsgi_app(dedupe=False)
    message = failure_of(lambda: check_endpoint(app, secret=SECRET, processed=lambda: processed))
    assert "was processed 2 times, expected once (deduplicate on (runId, sequenceNumber))" in (
        message
    )
    check_endpoint(make_wsgi_app(dedupe=False)[0], secret=SECRET)  # passes without the opt-in


def test_an_endpoint_that_processes_before_verifying_is_caught() -> None:
    app, processed = make_wsgi_app(process_first=True)
    message = failure_of(lambda: check_endpoint(app, secret=SECRET, processed=lambda: processed))
    assert "times but never accepted" in message


def test_an_endpoint_behind_a_real_url_is_checked_over_http() -> None:
    app, processed = make_wsgi_app()
    with serve_wsgi(app, path="/webhooks/helios") as url:
        check_endpoint(url, secret=SECRET, processed=lambda: processed)


def test_a_flawed_endpoint_behind_a_real_url_is_caught_with_its_500() -> None:
    app, _ = make_wsgi_app(crash_on_bad_timestamp=True)
    with serve_wsgi(app, path="/webhooks/helios") as url:
        message = failure_of(lambda: check_endpoint(url, secret=SECRET))
    assert "  missing-timestamp: expected 4xx, got 500 " in message


ENDPOINT_MODULE = """
import json
from pytest_helios import WebhookVerificationError, verify_webhook
from pytest_helios.webhooks.conformance import EndpointConformance

SECRET = "whsec_endpoint_module_secret_0001"
processed = []

def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
    if CRASH:
        int(environ["HTTP_X_HELIOS_TIMESTAMP"])
    try:
        payload = verify_webhook(body, headers, SECRET)
    except WebhookVerificationError:
        start_response("401 Unauthorized", [])
        return [b""]
    key = (payload["runId"], payload["sequenceNumber"])
    if key not in processed or not DEDUPE:
        processed.append(key)
    start_response("200 OK", [])
    return [b""]

class TestMyEndpoint(EndpointConformance):
    secret = SECRET

    def target(self):
        return app

    def processed(self):
        return processed
"""


def test_subclassing_endpoint_conformance_gives_one_passing_test_per_case(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("CRASH = False\nDEDUPE = True\n" + ENDPOINT_MODULE)
    result = pytester.runpytest("-v")
    result.stdout.re_match_lines_random(  # the tests may run in any order
        [
            r".*TestMyEndpoint::test_endpoint_case\[missing-timestamp\] PASSED.*",
            r".*TestMyEndpoint::test_endpoint_processes_each_delivery_exactly_once PASSED.*",
        ]
    )
    result.assert_outcomes(passed=len(CASE_NAMES) + 1)


def test_a_flawed_endpoint_fails_the_named_tests_and_the_exactly_once_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("CRASH = True\nDEDUPE = False\n" + ENDPOINT_MODULE)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: missing-timestamp: expected 4xx, got 500 (the app raised "
            "KeyError: 'HTTP_X_HELIOS_TIMESTAMP'); case: no X-Helios-Timestamp header",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: the endpoint did not process each delivery exactly once:",
            "*exactly-once: ('*', 7) was processed * times, expected once (deduplicate on "
            "(runId, sequenceNumber))",
        ]
    )
    result.assert_outcomes(passed=len(CASE_NAMES) - 4, failed=5)


def test_without_processed_the_exactly_once_test_is_skipped_with_a_reason(
    pytester: pytest.Pytester,
) -> None:
    source = ENDPOINT_MODULE.replace("    def processed(self):\n        return processed\n", "")
    pytester.makepyfile("CRASH = False\nDEDUPE = True\n" + source)
    result = pytester.runpytest("-rs", "-k", "processes_each_delivery")
    result.stdout.fnmatch_lines(["SKIPPED * define processed() to check exactly-once processing"])
    result.assert_outcomes(skipped=1)
