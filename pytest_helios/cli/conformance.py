"""``helios conformance``: the endpoint conformance kit against a URL: any language.

Each case of `pytest_helios.webhooks.check_endpoint` (every named variant of a delivery, and a
valid delivery of each other kind) is sent to the URL, signed with the secret the endpoint
verifies with, and judged as the kit judges it: a 2xx for a valid delivery, a 4xx for the rest,
either for what the documentation leaves open, never a 5xx. The command prints each case's
verdict with the answer it got and exits 1 when any case fails. The kit's
exactly-once check needs to see what the endpoint processed, so it runs in Python only
(``check_endpoint(..., processed=...)``).
"""

from __future__ import annotations

import argparse
from typing import Any

from pytest_helios.facts import TIMESTAMP_TOLERANCE

from ._common import (
    FAILED,
    CommandError,
    describe_transport_error,
    http_url,
    json_option,
    non_negative_int,
    print_json,
    secret_option,
    webhook_secrets,
)

__all__ = ["register"]

#: The answers that pass each verdict, as the kit judges them.
_EXPECTED = {"accept": "2xx", "reject": "4xx", "either": "2xx or 4xx"}


def _passes(expected: str, status: int) -> bool:
    """The kit's rule: 2xx accepts, 4xx rejects, anything else (a 5xx) is a failure."""
    accepted, rejected = 200 <= status < 300, 400 <= status < 500
    return {"accept": accepted, "reject": rejected}.get(expected, accepted or rejected)


def _verdicts(url: str, secret: str, tolerance: int, timeout: float) -> list[dict[str, Any]]:
    """One verdict per case, in the kit's order: what it expects, what came, whether it passed."""
    import httpx

    from pytest_helios.webhooks.conformance import ENDPOINT_CLOCK_MARGIN, cases
    from pytest_helios.webhooks.sending import deliver

    built = cases(secret=secret, tolerance=tolerance, margin=ENDPOINT_CLOCK_MARGIN)
    verdicts = []
    with httpx.Client(timeout=timeout, verify=url.startswith("https:")) as client:
        for case in built:
            try:
                response = deliver(url, case.body, case.headers, timeout=timeout, client=client)
            except httpx.TransportError as exc:
                raise CommandError(
                    f"cannot reach {url} ({describe_transport_error(exc)})", FAILED
                ) from None
            verdicts.append(
                {
                    "case": case.name,
                    "expected": case.expected,
                    "statusCode": response.status_code,
                    "answer": response.describe(),
                    "ok": _passes(case.expected, response.status_code),
                    "reason": case.reason,
                }
            )
    return verdicts


def _run(args: argparse.Namespace) -> int:
    (secret,) = webhook_secrets(args.secret)
    verdicts = _verdicts(args.url, secret, args.tolerance, args.timeout)
    failed = sum(not v["ok"] for v in verdicts)
    passed = len(verdicts) - failed
    if args.json:
        print_json({"url": args.url, "passed": passed, "failed": failed, "cases": verdicts})
        return FAILED if failed else 0
    print(f"Endpoint conformance of {args.url}", flush=True)
    for v in verdicts:
        line = f"{v['case']}: {v['answer']} (expected {_EXPECTED[v['expected']]})"
        if v["ok"]:
            print(f"PASS  {line}", flush=True)
        else:
            print(f"FAIL  {line}; case: {v['reason']}", flush=True)
    print(f"{len(verdicts)} cases: {passed} passed, {failed} failed", flush=True)
    return FAILED if failed else 0


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "conformance",
        help="run the endpoint conformance kit against a webhook endpoint's URL",
        description=(
            "Send every conformance case to the webhook endpoint at --url, signed with the "
            "secret it verifies with, and print each case's verdict: a valid delivery must "
            "get a 2xx, the others a 4xx, never a 5xx. Exits 1 when any case fails."
        ),
    )
    parser.add_argument("--url", required=True, type=http_url, help="the endpoint's URL")
    secret_option(parser)
    parser.add_argument(
        "--tolerance",
        type=non_negative_int,
        default=TIMESTAMP_TOLERANCE,
        metavar="SECONDS",
        help=f"the endpoint's timestamp tolerance (default: {TIMESTAMP_TOLERANCE})",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per case (default: 10)"
    )
    json_option(parser)
    parser.set_defaults(run=_run, prog=parser.prog)
