"""``helios trigger``: send a signed webhook of any kind, or a named bad variant, to a URL.

The delivery is built by `pytest_helios.webhooks.WebhookFactory`, as ``fake_webhook`` builds it,
and sent as the exact bytes that were signed. A variant carries the verdict a correct receiver
gives it, so the command exits 0 when the answer fits (a 2xx for a delivery to accept, a 4xx
for one to reject, either for one the documentation leaves open) and 1 when it does not.
``--print-curl`` prints the ``curl`` command that sends the same bytes and headers instead of
sending: the signature is in it, the secret never is.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_helios.facts import AGENTS, check_agent

from ._common import (
    FAILED,
    CommandError,
    describe_transport_error,
    http_url,
    json_option,
    positive_int,
    print_json,
    secret_option,
    webhook_secrets,
)

if TYPE_CHECKING:
    from pytest_helios.webhooks import Delivery

__all__ = ["DELIVERY_KINDS", "KINDS", "RUN", "curl_command", "register"]

#: The single deliveries ``helios trigger`` sends, and the ``fake_webhook`` kind of each.
DELIVERY_KINDS: dict[str, str] = {
    "lab-results-completed": "lab-results",
    "light-completed": "light",
    "deep-completed": "deep",
    "status-update": "status-update",
    "error": "error",
}
#: A whole run: a status update per step, then the final payload.
RUN = "run"
#: Every KIND ``helios trigger`` takes.
KINDS: tuple[str, ...] = (*DELIVERY_KINDS, RUN)
#: The kinds whose agent is chosen with ``--agent`` (the others name theirs).
_AGENT_KINDS = ("status-update", "error", RUN)
_VERDICTS = {
    "accept": "accepts it",
    "reject": "rejects it",
    "either": "may accept or reject it, never with a 5xx",
}
_STATUSES = {"accept": "a 2xx", "reject": "a 4xx", "either": "a 2xx or a 4xx (never a 5xx)"}


def _kind(value: str) -> str:
    if value not in KINDS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a webhook kind; valid kinds: {', '.join(KINDS)}"
        )
    return value


def _agent(value: str) -> str:
    try:
        return check_agent(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class _Planned:
    """What is about to be sent: the deliveries, and the verdict a correct receiver gives."""

    deliveries: list[Delivery]
    variant: str | None
    expected: str
    reason: str


def _plan(args: argparse.Namespace, secret: str) -> _Planned:
    from pytest_helios.webhooks import WebhookFactory

    if args.kind not in _AGENT_KINDS and args.agent is not None:
        raise CommandError(
            f"--agent applies to {', '.join(_AGENT_KINDS)}; {args.kind} names its agent"
        )
    if args.kind not in _AGENT_KINDS and args.step is not None:
        raise CommandError("--step applies to status-update, error and run")
    factory = WebhookFactory(secret)
    agent = args.agent or "light"
    if args.kind == RUN:
        if args.variant is not None:
            raise CommandError("--variant applies to one delivery, not to a whole run")
        try:
            run = factory.run(agent, run_id=args.run_id, fail_at_step=args.step)
        except ValueError as exc:
            raise CommandError(f"--step: {exc}") from None
        ending = "" if args.step is None else f" that fails after step {args.step}"
        return _Planned(list(run), None, "accept", f"a whole {agent} run{ending}")
    try:
        delivery = factory(
            DELIVERY_KINDS[args.kind],
            run_id=args.run_id,
            agent=agent if args.kind in _AGENT_KINDS else None,
            step=args.step,
        )
    except ValueError as exc:
        raise CommandError(f"--step: {exc}") from None
    if args.variant is None:
        return _Planned([delivery], None, "accept", f"a valid {args.kind} delivery")
    try:
        variant = delivery.variant(args.variant)
    except LookupError as exc:
        raise CommandError(f"--variant: {exc}") from None
    return _Planned([variant], variant.name, variant.expected, variant.reason)


# --- curl --------------------------------------------------------------------------------


def curl_command(url: str, body: bytes, headers: tuple[tuple[str, str], ...]) -> str:
    """The ``curl`` command line that POSTs ``body`` with exactly ``headers`` to ``url``.

    An empty header value is written ``Name;`` (``Name:`` would make curl drop it), and a
    delivery without ``Content-Type`` removes the one curl adds by itself. A body that is not
    UTF-8 text, or that curl would read as a file name (``@...``), is piped in with ``printf``.
    """
    words = ["curl", "--silent", "--show-error", "--include", "--request", "POST"]
    for name, value in headers:
        words += ["--header", f"{name};" if value == "" else f"{name}: {value}"]
    if all(name.lower() != "content-type" for name, _ in headers):
        words += ["--header", "Content-Type:"]
    text = _as_argument(body)
    if text is not None:
        return shlex.join([*words, "--data-binary", text, url])
    command = shlex.join([*words, "--data-binary", "@-", url])
    return f"printf '{_printf_format(body)}' | {command}"


def _as_argument(body: bytes) -> str | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("@") or "\0" in text:
        return None
    return text


def _printf_format(body: bytes) -> str:
    """``body`` as a ``printf`` format between single quotes: octal escapes for the rest."""
    out = []
    for byte in body:
        char = chr(byte)
        if char == "%":
            out.append("%%")
        elif 0x20 <= byte < 0x7F and char not in "'\\":
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


# --- the command -------------------------------------------------------------------------


def _fits(expected: str, status: int) -> bool:
    success, refusal = 200 <= status < 300, 400 <= status < 500
    return {"accept": success, "reject": refusal}.get(expected, success or refusal)


def _run(args: argparse.Namespace) -> int:
    (secret,) = webhook_secrets(args.secret)
    planned = _plan(args, secret)
    summary: dict[str, Any] = {
        "kind": args.kind,
        "variant": planned.variant,
        "expected": planned.expected,
        "url": args.to,
    }
    if args.print_curl:
        commands = [curl_command(args.to, d.body, d.headers) for d in planned.deliveries]
        if args.json:
            print_json({**summary, "curl": commands})
        else:
            print("\n".join(commands), flush=True)
        return 0
    results = _send(args, planned)
    ok = all(result["ok"] for result in results)
    if args.json:
        print_json({**summary, "ok": ok, "deliveries": results})
        return 0 if ok else FAILED
    if planned.variant is None:
        print(f"Sent {planned.reason} to {args.to}", flush=True)
    else:
        print(f"Sent {args.kind}, variant {planned.variant}, to {args.to}", flush=True)
        print(f"  {planned.reason}: a correct receiver {_VERDICTS[planned.expected]}", flush=True)
    for result in results:
        verdict = "as expected" if result["ok"] else f"expected {_STATUSES[planned.expected]}"
        print(
            f"  runId {result['runId']} sequenceNumber {result['sequenceNumber']}: "
            f"{result['answer']} ({verdict})",
            flush=True,
        )
    return 0 if ok else FAILED


def _send(args: argparse.Namespace, planned: _Planned) -> list[dict[str, Any]]:
    import httpx

    from pytest_helios.webhooks.sending import deliver

    results = []
    # certificates matter only to https (loading them costs a noticeable part of a second)
    with httpx.Client(timeout=args.timeout, verify=args.to.startswith("https:")) as client:
        for delivery in planned.deliveries:
            try:
                response = deliver(
                    args.to, delivery.body, delivery.headers, timeout=args.timeout, client=client
                )
            except httpx.TransportError as exc:
                raise CommandError(
                    f"cannot reach {args.to} ({describe_transport_error(exc)})", FAILED
                ) from None
            results.append(
                {
                    "runId": delivery.run_id,
                    "sequenceNumber": delivery.sequence_number,
                    "statusCode": response.status_code,
                    "answer": response.describe(),
                    "ok": _fits(planned.expected, response.status_code),
                }
            )
    return results


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "trigger",
        help="send a signed webhook of any kind or bad variant to a URL",
        description=(
            "Build a signed webhook delivery, as Helios sends it, and POST it to --to. "
            "Exits 0 when the answer is what a correct receiver gives (2xx for a valid "
            "delivery, 4xx for a --variant it must reject), 1 otherwise."
        ),
    )
    parser.add_argument("kind", type=_kind, metavar="KIND", help=f"one of: {', '.join(KINDS)}")
    parser.add_argument(
        "--to", required=True, type=http_url, metavar="URL", help="the receiver's URL"
    )
    parser.add_argument(
        "--variant",
        metavar="NAME",
        help="a named bad (or tricky) variant, e.g. tampered-body, stale-timestamp "
        "(docs/webhooks.md lists them)",
    )
    parser.add_argument(
        "--agent",
        type=_agent,
        metavar="AGENT",
        help=f"for status-update, error and run: {', '.join(AGENTS)} (default: light)",
    )
    parser.add_argument(
        "--step",
        type=positive_int,
        metavar="N",
        help="status-update: its step; error: the step that failed; run: fail after step N",
    )
    parser.add_argument("--run-id", metavar="ID", help="the run's id (default: a new uuid4)")
    secret_option(parser)
    parser.add_argument(
        "--print-curl",
        action="store_true",
        help="print the equivalent curl command (one per delivery) instead of sending",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per delivery (default: 10)"
    )
    json_option(parser)
    parser.set_defaults(run=_run, prog=parser.prog)
