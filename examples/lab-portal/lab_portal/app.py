"""The portal's WSGI app.

- ``POST /submissions`` ``{"patientRef", "labResults": [...], "patientContext"?}``: sends the
  labs to Helios, answers 202 ``{"runId"}``; a Helios 400 becomes 422 with its details, a 401
  or an unreachable Helios 502, a 429 503 with ``Retry-After``.
- ``POST /webhooks/helios``: verifies the signature over the raw body, then stores the event
  once per ``(runId, sequenceNumber)``; 200 when stored or already stored, 400 otherwise.
- ``GET /submissions/<runId>``: the run's status, its steps in order, and its result.

No input makes it answer 5xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lab_portal.helios import HeliosGateway, HeliosRefused
from lab_portal.signatures import InvalidWebhook, verify
from lab_portal.store import Store

WEBHOOK_PATH = "/webhooks/helios"
MAX_BODY = 5 * 1024 * 1024
log = logging.getLogger("lab_portal")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Portal:
    """The WSGI app. ``webhook_secrets`` returns the secrets to accept (two during a
    rotation); ``public_url`` is where Helios reaches this service."""

    def __init__(
        self,
        *,
        store: Store,
        helios: HeliosGateway,
        webhook_secrets: Callable[[], Sequence[str]],
        public_url: str = "",
    ) -> None:
        self.store = store
        self.helios = helios
        self.webhook_secrets = webhook_secrets
        self.public_url = public_url.rstrip("/")

    @property
    def webhook_url(self) -> str:
        return self.public_url + WEBHOOK_PATH

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path == WEBHOOK_PATH:
            route = self.receive_webhook if method == "POST" else None
        elif path == "/submissions":
            route = self.submit if method == "POST" else None
        elif path.startswith("/submissions/"):
            route = self.show if method == "GET" else None
        else:
            return _reply(start_response, 404, {"error": "no such page"})
        if route is None:
            return _reply(start_response, 405, {"error": f"{method} is not allowed here"})
        try:
            body = _read_body(environ)
        except ValueError as error:
            return _reply(
                start_response, 413 if "large" in str(error) else 400, {"error": str(error)}
            )
        status, answer, headers = route(body, environ)
        return _reply(start_response, status, answer, headers)

    # --- routes --------------------------------------------------------------------------
    def receive_webhook(self, body: bytes, environ: dict[str, Any]) -> _Answer:
        try:
            verify(body, _headers(environ), self.webhook_secrets())
        except InvalidWebhook as error:
            log.warning("refused a webhook: %s", error)
            return 400, {"error": str(error)}, []
        payload = _json(body)  # only now: the signature covers the raw bytes, not a re-dump
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("runId"), str)
            and type(payload.get("sequenceNumber")) is int
            and 0 <= payload["sequenceNumber"] < 2**31
            and isinstance(payload.get("status"), str)
        ):
            return 400, {"error": "a webhook needs runId, sequenceNumber and status"}, []
        new = self.store.add_event(payload)
        return 200, {"stored": new}, []

    def submit(self, body: bytes, environ: dict[str, Any]) -> _Answer:
        form = _json(body)
        if not isinstance(form, dict) or not isinstance(form.get("patientRef"), str):
            return 400, {"error": "send JSON with patientRef and labResults"}, []
        labs = form.get("labResults")
        if not isinstance(labs, list):
            return 400, {"error": "labResults must be a list"}, []
        if not isinstance(form.get("patientContext", {}), dict):
            return 400, {"error": "patientContext must be an object"}, []
        try:
            run_id = self.helios.submit_lab_results(
                labs, webhook_url=self.webhook_url, patient_context=form.get("patientContext")
            )
        except HeliosRefused as refused:
            return _refusal(refused)
        self.store.add_submission(run_id, form["patientRef"], len(labs))
        return 202, {"runId": run_id}, []

    def show(self, body: bytes, environ: dict[str, Any]) -> _Answer:
        run_id = environ["PATH_INFO"].removeprefix("/submissions/")
        submission = self.store.submission(run_id)
        if submission is None:
            return 404, {"error": f"no submission {run_id}"}, []
        return 200, submission.as_json(), []


_Answer = tuple[int, dict[str, Any], list[tuple[str, str]]]


def _refusal(refused: HeliosRefused) -> _Answer:
    if refused.status == 400:
        details = refused.body.get("details", []) if isinstance(refused.body, dict) else []
        return 422, {"error": refused.message, "details": details}, []
    if refused.status == 429:
        return 503, {"error": f"Helios is busy: {refused.message}"}, [("Retry-After", "60")]
    if refused.status == 401:
        return 502, {"error": f"Helios refused our API key: {refused.message}"}, []
    return 502, {"error": str(refused)}, []


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValueError("bad Content-Length") from None
    if length < 0:
        raise ValueError("bad Content-Length")
    if length > MAX_BODY:
        raise ValueError("body too large")
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request headers as (name, value) pairs, as the client sent them."""
    pairs = [(k[5:].replace("_", "-"), str(v)) for k, v in environ.items() if k.startswith("HTTP_")]
    if "CONTENT_TYPE" in environ:
        pairs.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    return pairs


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None


def _reply(
    start_response: StartResponse,
    status: int,
    answer: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = json.dumps(answer).encode("utf-8")
    start_response(
        f"{status} {REASONS.get(status, '')}".rstrip(),
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *(headers or []),
        ],
    )
    return [data]


def create_app(
    *,
    helios_base_url: str,
    helios_api_key: str,
    webhook_secrets: Callable[[], Sequence[str]] | Sequence[str],
    public_url: str = "",
    database: str = ":memory:",
) -> Portal:
    """Build the portal; ``webhook_secrets`` may be a list or a callable returning one."""
    secrets = webhook_secrets if callable(webhook_secrets) else (lambda: list(webhook_secrets))
    return Portal(
        store=Store(database),
        helios=HeliosGateway(helios_base_url, helios_api_key),
        webhook_secrets=secrets,
        public_url=public_url,
    )
