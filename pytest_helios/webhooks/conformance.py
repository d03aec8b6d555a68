"""Conformance kits: test *your* webhook verifier and *your* webhook endpoint.

Three forms of one kit, built on the named variants of `pytest_helios.webhooks.variants`:

- `check_verifier(accepts)`: give it your verifier adapted to
  ``accepts(body: bytes, headers: dict[str, str], secret: str) -> bool``; it runs every named
  case and a few Hypothesis properties and raises ``AssertionError`` listing every case it got
  wrong, by name, with the expected and actual verdicts. An exception is a crash: a defect.
  If ``accepts`` also takes a keyword argument ``now`` (Unix seconds), the kit passes its clock
  and checks the timestamp boundaries exactly; otherwise it leaves your wall clock a few
  seconds of slack.
- `VerifierConformance`: the same cases as pytest tests, one per case, in your test module::

      class TestMyVerifier(VerifierConformance):
          def accepts(self, body, headers, secret):
              return my_app.verify(body, headers, secret)

- `check_endpoint(target, secret=...)`: delivers every case to your WSGI app, ASGI app or URL
  and expects 2xx for valid deliveries, 4xx (never 5xx) for the rest; with ``processed=`` it
  also checks that duplicates, retries and replays are processed exactly once.
  `EndpointConformance` is its pytest form, one test per case.

Verdicts are ``"accept"``, ``"reject"`` or ``"either"`` (the documentation leaves it open: any
answer but a crash). Each case's ``reason`` says why.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from pytest_helios.facts import SIGNATURE_HEADER, SIGNATURE_PREFIX, TIMESTAMP_HEADER
from pytest_helios.webhooks.fakes import Delivery, Variant, WebhookFactory
from pytest_helios.webhooks.sending import DeliveryResponse, deliver, run_sync
from pytest_helios.webhooks.signing import DEFAULT_TOLERANCE, new_webhook_secret
from pytest_helios.webhooks.variants import ACCEPT, EITHER, REJECT

__all__ = [
    "CASE_NAMES",
    "ENDPOINT_CLOCK_MARGIN",
    "PROPERTY_NAMES",
    "WALL_CLOCK_MARGIN",
    "Accepts",
    "EndpointConformance",
    "VerifierConformance",
    "cases",
    "check_endpoint",
    "check_verifier",
]

Accepts = Callable[..., object]
"""``accepts(body: bytes, headers: dict[str, str], secret: str[, now: int]) -> bool``.

It may be ``async``; the kit then awaits it."""

WALL_CLOCK_MARGIN = 5
"""Seconds of slack given to a verifier that reads its own clock (it is called at once)."""

ENDPOINT_CLOCK_MARGIN = 30
"""Seconds of slack given to an endpoint: the cases are built once and then sent one by one."""


def cases(
    *,
    secret: str | None = None,
    now: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    margin: int = 0,
) -> list[Variant]:
    """Every named conformance case, signed with ``secret`` (a fresh random one if ``None``).

    The variants of one EHR light completed delivery (emoji included), plus a valid delivery
    of each other kind. ``now`` defaults to the clock; ``margin`` as in `Delivery.variants`.
    """
    clock = int(time.time()) if now is None else now
    factory = WebhookFactory(secret or new_webhook_secret(), clock=lambda: clock)
    found = factory("light").variants(now=clock, tolerance=tolerance, margin=margin)
    others: list[tuple[str, Delivery]] = [
        ("deep-completed", factory("deep")),
        ("lab-results-completed", factory("lab-results")),
        ("status-update", factory.status_update("light", 2)),
        ("error", factory.error("deep", 4)),
    ]
    for kind, delivery in others:
        valid = delivery.variant("valid", now=clock, tolerance=tolerance)
        found.append(_renamed(valid, kind, f"a valid {kind.replace('-', ' ')} delivery"))
    return found


def _renamed(variant: Variant, name: str, reason: str) -> Variant:
    return replace(variant, name=name, reason=reason)


CASE_NAMES: tuple[str, ...] = tuple(case.name for case in cases(secret="names-only", now=0))
"""The name of every case `cases` builds, in order (stable across runs)."""


# --- verdicts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a verifier or endpoint did with one case, and whether that conforms."""

    case: str
    expected: str
    actual: str
    reason: str
    ok: bool

    def line(self) -> str:
        if not self.reason:
            return f"{self.case}: expected {self.expected}, got {self.actual}"
        return f"{self.case}: expected {self.expected}, got {self.actual}; case: {self.reason}"


def _conforms(expected: str, actual: str) -> bool:
    if actual not in (ACCEPT, REJECT):
        return False
    return expected in (actual, EITHER)


def _expected_text(expected: str) -> str:
    return "accept or reject (never a crash)" if expected == EITHER else expected


def _takes_now(accepts: Accepts) -> bool:
    try:
        parameters = inspect.signature(accepts).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "now" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _call(accepts: Accepts, case: Variant, secret: str, now: int | None) -> str:
    headers = case.header_dict()
    try:
        if now is None:
            result = accepts(case.body, headers, secret)
        else:
            result = accepts(case.body, headers, secret, now=now)
        if inspect.isawaitable(result):  # an async verifier
            result = run_sync(result)
    except Exception as exc:
        return f"a crash ({type(exc).__name__}: {str(exc)[:120]})"
    if result is True:
        return ACCEPT
    if result is False:
        return REJECT
    return f"a non-bool return value {result!r:.60}"


def _run_case(
    accepts: Accepts, name: str, *, secret: str | None, tolerance: int, injectable: bool
) -> Outcome:
    secret = secret or new_webhook_secret()
    clock = int(time.time())
    margin = 0 if injectable else WALL_CLOCK_MARGIN
    built = {c.name: c for c in cases(secret=secret, now=clock, tolerance=tolerance, margin=margin)}
    if name not in built:
        raise LookupError(f"no conformance case {name!r}; valid cases: {', '.join(built)}")
    case = built[name]
    actual = _call(accepts, case, secret, clock if injectable else None)
    return Outcome(
        name, _expected_text(case.expected), actual, case.reason, _conforms(case.expected, actual)
    )


# --- properties -------------------------------------------------------------------------------


def _property_round_trip(accepts: Accepts, secret: str, tolerance: int, now: int | None) -> Any:
    from hypothesis import given
    from hypothesis import strategies as st

    from pytest_helios.payloads.builders import serialize

    text = st.text(st.characters(codec="utf-8"), max_size=30)
    payloads = st.fixed_dictionaries(
        {"runId": st.uuids().map(str), "sequenceNumber": st.integers(1, 9)},
        optional={"note": text, "status": st.sampled_from(["processing", "completed"])},
    )

    @given(payload=payloads)
    def any_signed_payload_is_accepted(payload: dict[str, Any]) -> None:
        body = serialize(payload)
        case = _signed(body, secret, now)
        actual = _call(accepts, case, secret, now)
        assert actual == ACCEPT, f"expected accept, got {actual} for body {body[:80]!r}"

    return any_signed_payload_is_accepted


def _property_mutation(accepts: Accepts, secret: str, tolerance: int, now: int | None) -> Any:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(data=st.data())
    def any_single_byte_change_is_rejected(data: st.DataObject) -> None:
        body = b'{"runId":"r","sequenceNumber":1,"note":"caf\xc3\xa9"}'
        case = _signed(body, secret, now)
        index = data.draw(st.integers(0, len(body) - 1), label="index")
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
        tampered = body[:index] + bytes([byte]) + body[index + 1 :]
        actual = _call(accepts, replace(case, body=tampered), secret, now)
        assert actual == REJECT, f"expected reject, got {actual} for body {tampered!r}"

    return any_single_byte_change_is_rejected


def _property_tolerance(accepts: Accepts, secret: str, tolerance: int, now: int | None) -> Any:
    from hypothesis import given
    from hypothesis import strategies as st

    slack = 0 if now is not None else WALL_CLOCK_MARGIN

    @given(skew=st.integers(-3 * tolerance - 10, 3 * tolerance + 10))
    def the_timestamp_is_checked_both_ways(skew: int) -> None:
        if tolerance - slack < abs(skew) <= tolerance + slack:
            return  # too close to the boundary for a verifier on its own wall clock
        clock = int(time.time()) if now is None else now
        case = _signed(b'{"runId":"r","sequenceNumber":1}', secret, clock, clock - skew)
        actual = _call(accepts, case, secret, now)
        expected = ACCEPT if abs(skew) <= tolerance else REJECT
        where = f"{abs(skew)} s in the {'past' if skew > 0 else 'future'}"
        assert actual == expected, f"expected {expected}, got {actual} for a timestamp {where}"

    return the_timestamp_is_checked_both_ways


def _property_garbage_headers(
    accepts: Accepts, secret: str, tolerance: int, now: int | None
) -> Any:
    from hypothesis import given
    from hypothesis import strategies as st

    values = st.text(max_size=80) | st.builds(
        lambda s: SIGNATURE_PREFIX + s, st.text("0123456789abcdefABCDEF", max_size=70)
    )

    @given(signature=values, timestamp=values | st.integers(0, 2**40).map(str))
    def garbage_headers_are_rejected_without_crashing(signature: str, timestamp: str) -> None:
        body = b'{"runId":"r","sequenceNumber":1}'
        case = _signed(body, secret, now)
        headers = ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp))
        actual = _call(accepts, replace(case, headers=headers), secret, now)
        assert actual == REJECT, (
            f"expected reject, got {actual} for {SIGNATURE_HEADER} {signature!r:.80}, "
            f"{TIMESTAMP_HEADER} {timestamp!r:.40}"
        )

    return garbage_headers_are_rejected_without_crashing


def _property_any_body(accepts: Accepts, secret: str, tolerance: int, now: int | None) -> Any:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(body=st.binary(max_size=200))
    def any_signed_bytes_get_an_answer_not_a_crash(body: bytes) -> None:
        actual = _call(accepts, _signed(body, secret, now), secret, now)
        assert actual in (ACCEPT, REJECT), f"expected accept or reject, got {actual} for {body!r}"

    return any_signed_bytes_get_an_answer_not_a_crash


_PROPERTIES: dict[str, Callable[[Accepts, str, int, int | None], Any]] = {
    "round-trip": _property_round_trip,
    "body-mutation": _property_mutation,
    "two-sided-tolerance": _property_tolerance,
    "garbage-headers": _property_garbage_headers,
    "any-body": _property_any_body,
}
PROPERTY_NAMES: tuple[str, ...] = tuple(_PROPERTIES)
"""The Hypothesis properties `check_verifier` runs, by name."""


def _signed(body: bytes, secret: str, now: int | None, timestamp: int | None = None) -> Variant:
    clock = int(time.time()) if now is None else now
    when = clock if timestamp is None else timestamp
    delivery = WebhookFactory(secret).sign(body, timestamp=when, run_id="r")
    fields = {f: getattr(delivery, f) for f in delivery.__dataclass_fields__}
    return Variant(**fields, name="property", now=clock)


def _run_property(
    accepts: Accepts,
    name: str,
    *,
    secret: str | None,
    tolerance: int,
    injectable: bool,
    max_examples: int,
) -> Outcome:
    from hypothesis import HealthCheck, Phase, settings

    if name not in _PROPERTIES:
        raise LookupError(f"no property {name!r}; valid properties: {', '.join(_PROPERTIES)}")
    secret = secret or new_webhook_secret()
    now = int(time.time()) if injectable else None
    test = _PROPERTIES[name](accepts, secret, tolerance, now)
    configured = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        phases=[phase for phase in Phase if phase is not Phase.explain],  # explain is slow
    )(test)
    try:
        configured()
    except AssertionError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "failed"
        return Outcome(f"property {name}", "it to hold", f"a counterexample: {first}", "", False)
    return Outcome(f"property {name}", "it to hold", "it held", "", True)


# --- check_verifier ---------------------------------------------------------------------------


def check_verifier(
    accepts: Accepts,
    *,
    secret: str | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    properties: bool = True,
    max_examples: int = 50,
) -> None:
    """Run every named case and property against ``accepts``; raise listing each failure.

    ``accepts(body, headers, secret) -> bool`` is your verifier adapted: True accepts, False
    rejects, an exception is a crash. Give it a ``now`` keyword parameter to be handed the
    kit's clock. ``secret`` is the secret the kit signs with and passes to ``accepts``
    (a fresh random one by default). Do not call this from inside a Hypothesis test.
    """
    __tracebackhide__ = True
    injectable = _takes_now(accepts)
    secret = secret or new_webhook_secret()
    outcomes = [
        _run_case(accepts, name, secret=secret, tolerance=tolerance, injectable=injectable)
        for name in CASE_NAMES
    ]
    if properties:
        outcomes += [
            _run_property(
                accepts,
                name,
                secret=secret,
                tolerance=tolerance,
                injectable=injectable,
                max_examples=max_examples,
            )
            for name in PROPERTY_NAMES
        ]
    _raise_failures("verifier", outcomes)


def _raise_failures(what: str, outcomes: Sequence[Outcome], extra: Sequence[str] = ()) -> None:
    """Raise one AssertionError listing every failed check, one per line."""
    __tracebackhide__ = True
    failed = [outcome.line() for outcome in outcomes if not outcome.ok] + list(extra)
    if failed:
        lines = [f"the {what} failed {len(failed)} conformance check(s):"]
        lines += [f"  {line}" for line in failed]
        raise AssertionError("\n".join(lines))


class VerifierConformance:
    """Subclass as ``Test...`` and define ``accepts``: one pytest test per case and property.

    Class attributes: ``secret`` (``None``: a fresh random secret per test), ``tolerance``
    and ``max_examples`` (Hypothesis examples per property).
    """

    secret: str | None = None
    tolerance: int = DEFAULT_TOLERANCE
    max_examples: int = 50

    def accepts(self, body: bytes, headers: dict[str, str], secret: str) -> bool:
        raise NotImplementedError("define accepts(self, body, headers, secret) -> bool")

    @pytest.mark.parametrize("case", CASE_NAMES)
    def test_conformance_case(self, case: str) -> None:
        __tracebackhide__ = True
        outcome = _run_case(
            self.accepts,
            case,
            secret=self.secret,
            tolerance=self.tolerance,
            injectable=_takes_now(self.accepts),
        )
        if not outcome.ok:
            raise AssertionError(outcome.line())

    @pytest.mark.parametrize("prop", PROPERTY_NAMES)
    def test_conformance_property(self, prop: str) -> None:
        __tracebackhide__ = True
        outcome = _run_property(
            self.accepts,
            prop,
            secret=self.secret,
            tolerance=self.tolerance,
            injectable=_takes_now(self.accepts),
            max_examples=self.max_examples,
        )
        if not outcome.ok:
            raise AssertionError(outcome.line())


# --- check_endpoint ---------------------------------------------------------------------------


_STATUS_EXPECTED = {ACCEPT: "2xx", REJECT: "4xx", EITHER: "2xx or 4xx (never 5xx)"}


def _classify(status: int) -> str:
    if 200 <= status < 300:
        return ACCEPT
    if 400 <= status < 500:
        return REJECT
    return f"status {status}"


def check_endpoint(
    target: object,
    *,
    secret: str,
    path: str = "/",
    processed: Callable[[], Iterable[tuple[str, int]]] | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    timeout: float = 10.0,
) -> None:
    """Deliver every case to ``target`` (a URL, a WSGI app or an ASGI app); raise on failures.

    ``secret`` is the webhook secret the endpoint verifies with. A valid delivery must get a
    2xx, an invalid one a 4xx, never a 5xx (an exception raised by an in-process app counts
    as a 500). ``path`` is the request path for an app.

    Exactly-once, opt-in: pass ``processed``, a callable returning the ``(runId,
    sequenceNumber)`` of every delivery the endpoint has processed, one entry per processing
    (for example from a list your test app appends to). The kit then also sends a whole run,
    shuffled, with every delivery retried and the final payload replayed with a fresh
    timestamp, and checks that each accepted ``(runId, sequenceNumber)`` was processed exactly
    once and that nothing rejected was processed.
    """
    __tracebackhide__ = True
    with _Sender(target, path, timeout) as send:
        named = cases(secret=secret, tolerance=tolerance, margin=ENDPOINT_CLOCK_MARGIN)
        outcomes = [_endpoint_outcome(case, send(case)) for case in named]
        extra = [] if processed is None else _check_exactly_once(named, send, processed, secret)
    _raise_failures("endpoint", outcomes, extra)


class _Sender:
    """Delivers to one target; reuses one httpx client for a URL."""

    def __init__(self, target: object, path: str, timeout: float) -> None:
        self.target, self.path, self.timeout = target, path, timeout
        self.client: Any = None

    def __enter__(self) -> Callable[[Delivery], DeliveryResponse]:
        if isinstance(self.target, str):
            import httpx

            self.client = httpx.Client(timeout=self.timeout)
        return self.send

    def __exit__(self, *exc_info: object) -> None:
        if self.client is not None:
            self.client.close()

    def send(self, delivery: Delivery) -> DeliveryResponse:
        return deliver(
            self.target,
            delivery.body,
            delivery.headers,
            path=self.path,
            timeout=self.timeout,
            client=self.client,
        )


def _endpoint_outcome(case: Variant, response: DeliveryResponse) -> Outcome:
    actual = "a crash" if response.app_exception is not None else _classify(response.status_code)
    ok = _conforms(case.expected, actual)
    return Outcome(case.name, _STATUS_EXPECTED[case.expected], response.describe(), case.reason, ok)


def _check_exactly_once(
    named: Sequence[Variant],
    send: Callable[[Delivery], DeliveryResponse],
    processed: Callable[[], Iterable[tuple[str, int]]],
    secret: str,
) -> list[str]:
    """Send a shuffled, retried and replayed run after ``named``; check what was processed."""
    clock = int(time.time())
    run = WebhookFactory(secret, clock=lambda: clock).run("light")
    replay = run.final.variant("replayed-with-fresh-timestamp", now=clock)
    problems: list[str] = []
    for delivery in [*run.with_duplicates(2, seed=1), replay]:
        response = send(delivery)
        if not response.is_success:
            problems.append(
                f"exactly-once: a run delivery {delivery.key} got {response.describe()}, "
                "expected 2xx"
            )
    required = {c.key for c in named if c.expected == ACCEPT and c.payload is not None}
    required |= set(run.keys)
    allowed = required | {c.key for c in named if c.expected == EITHER}
    run_ids = {c.run_id for c in named} | {run.final.run_id}
    counts: Counter[tuple[str, int | None]] = Counter(
        (str(key[0]), key[1]) for key in processed() if key and str(key[0]) in run_ids
    )
    for key in sorted(required, key=str):
        if counts[key] != 1:
            problems.append(
                f"exactly-once: {key} was processed {counts[key]} times, expected once "
                "(deduplicate on (runId, sequenceNumber))"
            )
    for key, count in sorted(counts.items(), key=str):
        if key not in allowed:
            problems.append(f"exactly-once: {key} was processed {count} times but never accepted")
        elif key not in required and count > 1:
            problems.append(
                f"exactly-once: {key} was processed {count} times, expected at most once"
            )
    return problems


class EndpointConformance:
    """Subclass as ``Test...``; define ``target`` and ``secret``: one pytest test per case.

    ``target()`` returns a URL, a WSGI app or an ASGI app and is called once per test;
    ``secret`` is the webhook secret the endpoint verifies with; ``path`` is the request path
    for an app. Define ``processed()`` as well (see `check_endpoint`) to run the exactly-once
    test, which is skipped otherwise.
    """

    secret: str = ""
    path: str = "/"
    tolerance: int = DEFAULT_TOLERANCE
    timeout: float = 10.0

    def target(self) -> object:
        raise NotImplementedError("define target(self) returning a URL, a WSGI or an ASGI app")

    def processed(self) -> Iterable[tuple[str, int]]:
        raise NotImplementedError

    def _secret(self) -> str:
        if not self.secret:
            raise pytest.UsageError(
                f"{type(self).__name__}.secret is not set: set it to the webhook secret "
                "the endpoint verifies with"
            )
        return self.secret

    @pytest.mark.parametrize("case", CASE_NAMES)
    def test_endpoint_case(self, case: str) -> None:
        __tracebackhide__ = True
        secret = self._secret()
        built = {
            c.name: c
            for c in cases(secret=secret, tolerance=self.tolerance, margin=ENDPOINT_CLOCK_MARGIN)
        }
        with _Sender(self.target(), self.path, self.timeout) as send:
            outcome = _endpoint_outcome(built[case], send(built[case]))
        if not outcome.ok:
            raise AssertionError(outcome.line())

    def test_endpoint_processes_each_delivery_exactly_once(self) -> None:
        __tracebackhide__ = True
        if type(self).processed is EndpointConformance.processed:
            pytest.skip("define processed() to check exactly-once processing")
        secret = self._secret()
        named = cases(secret=secret, tolerance=self.tolerance, margin=ENDPOINT_CLOCK_MARGIN)
        with _Sender(self.target(), self.path, self.timeout) as send:
            for case in named:
                send(case)
            problems = _check_exactly_once(named, send, self.processed, secret)
        if problems:
            raise AssertionError(
                "the endpoint did not process each delivery exactly once:\n"
                + "\n".join(f"  {problem}" for problem in problems)
            )
