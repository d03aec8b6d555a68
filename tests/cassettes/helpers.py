"""Helpers for the cassette tests: a real Helios-like HTTP server and a pytester project.

``FakeHelios`` is a threaded stdlib ``http.server`` on 127.0.0.1 (a free port) that answers
the two documented endpoints the way the emulator does for the cases these tests need
(200 accepted, 400 validation error echoing the bad value, 401 by reason), plus ``/echo``,
which returns everything it received (headers, query, JSON body) with a ``Set-Cookie``, a
``; charset=utf-8`` content type and gzip, so a test can plant a secret in every place.
"""

from __future__ import annotations

import gzip
import json
import secrets
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# pytester's in-process runs drop every module first imported during a run. Imported here
# once instead: requests (re-importing it breaks its cookie jar checks), and what each run
# would otherwise import, and assertion-rewrite, again (hypothesis's terminal summary, vcrpy).
import httpx  # noqa: F401
import hypothesis.internal.observability  # noqa: F401
import pytest
import requests  # noqa: F401

import pytest_helios.cassettes.lint
import pytest_helios.cassettes.recorder  # noqa: F401
from tests.loopback import LoopbackServer, QuietHandler
from tests.samples import lab_request


def new_api_key() -> str:
    """A fresh key for one test run (never a committed literal)."""
    return "sk_live_" + secrets.token_hex(16)


class FakeHelios(LoopbackServer):
    """A real HTTP server that behaves like the Helios endpoints; counts what it serves."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.partner_token = ""
        self.hits: list[tuple[str, str]] = []
        super().__init__(self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(
                self,
                status: int,
                payload: object,
                *,
                content_type: str = "application/json",
                extra: dict[str, str] | None = None,
            ) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                headers = dict(extra or {})
                if "gzip" in (self.headers.get("Accept-Encoding") or "") and content_type.endswith(
                    "charset=utf-8"
                ):
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                fake.hits.append(("GET", self.path))
                query = dict(parse_qsl(urlsplit(self.path).query))
                planted = query.get("plant", "").encode()
                self._reply(
                    200, b"\x89BIN\xff\x00" + planted, content_type="application/octet-stream"
                )

            def do_POST(self) -> None:
                fake.hits.append(("POST", self.path))
                raw = self._body()
                path = urlsplit(self.path).path
                if path == "/echo":
                    echo = {
                        "headers": dict(self.headers.items()),
                        "query": dict(parse_qsl(urlsplit(self.path).query)),
                        "body": json.loads(raw or b"null"),
                    }
                    cookie = self.headers.get("x-api-key", "none")
                    extra = {"Set-Cookie": f"session={cookie}; Path=/; HttpOnly"}
                    if "x-patient" in self.headers:  # a response header naming the patient
                        extra["X-Echo-Patient"] = self.headers["x-patient"]
                    self._reply(
                        200, echo, content_type="application/json; charset=utf-8", extra=extra
                    )
                    return
                if path == "/echo-key-error":  # an error body that echoes the key it was sent
                    key = self.headers.get("x-api-key", "")
                    self._reply(401, {"error": "Unauthorized", "message": f"Invalid key {key}"})
                    return
                if path not in ("/api/v1/agent", "/api/v1/lab-results"):
                    self._reply(404, {"error": "Not Found", "message": path})
                    return
                key = self.headers.get("x-api-key")
                if key is None:
                    self._reply(
                        401, {"error": "Unauthorized", "message": "Missing x-api-key header"}
                    )
                    return
                if key != fake.api_key:
                    self._reply(401, {"error": "Unauthorized", "message": "Invalid API key"})
                    return
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                if not isinstance(data, dict) or "webhookUrl" not in data:
                    self._reply(400, _validation_error("webhookUrl", "is required"))
                    return
                context = data.get("patientContext") or {}
                if "age" in context and not isinstance(context["age"], str):
                    name = context.get("name", "the patient")
                    self._reply(
                        400,
                        _validation_error("patientContext.age", f"age of {name} must be a string"),
                    )
                    return
                self._reply(
                    200,
                    {
                        "runId": str(uuid.uuid4()),
                        "status": "accepted",
                        "message": "Request accepted. Results will be delivered to your webhook.",
                    },
                    extra={
                        "X-Concurrent-Limit": "7",
                        "X-Concurrent-Active": "1",
                        "X-Concurrent-Remaining": "6",
                        "X-Request-Id": str(uuid.uuid4()),
                    },
                )

        return Handler


@pytest.fixture(name="server")
def server_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHelios]:
    """A running FakeHelios; its fresh key is in HELIOS_API_KEY, a partner token in PARTNER_ID
    (a name that does not say "secret", so only its place tells the scrubber)."""
    key = new_api_key()
    token = "tok" + secrets.token_hex(24)
    monkeypatch.setenv("HELIOS_API_KEY", key)
    monkeypatch.setenv("PARTNER_ID", token)
    with FakeHelios(key) as fake:
        fake.partner_token = token
        yield fake


class Receiver(LoopbackServer):
    """A user's webhook handler: a real local server that keeps every delivery it gets."""

    path = "/webhook"

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        received = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((body, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)


class Gate(LoopbackServer):
    """A webhook handler that holds every request until it is opened, then answers 200."""

    path = "/webhook"

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.received: list[bytes] = []
        gate = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.body()
                gate.opened.wait(60)
                gate.received.append(body)
                self.reply(200)

        super().__init__(Handler)


def _validation_error(field: str, message: str) -> dict[str, object]:
    return {
        "error": "Validation Error",
        "message": f"{field} {message}",
        "details": [{"field": field, "message": message}],
    }


LAB_REQUEST: dict[str, Any] = lab_request(
    "http://127.0.0.1:9/webhook/helios", patientContext={"age": "58", "gender": "male"}
)


def write_project(
    pytester: pytest.Pytester, server_url: str, tests: str, *, ini: str = "", settings: str = ""
) -> None:
    """A user's project: an ini, a conftest that maps the server to the canonical host (and
    changes other ``settings`` of its ``helios_cassette_config``), and tests.

    The tests see the server's URL as ``URL`` and the payload above as ``LAB_REQUEST``.
    """
    pytester.makeini(f"[pytest]\n{ini}")
    pytester.makeconftest(
        textwrap.dedent(
            f"""
            import dataclasses
            import pytest

            @pytest.fixture
            def helios_cassette_config(helios_cassette_config):
                return dataclasses.replace(
                    helios_cassette_config, target_urls=({server_url!r},), {settings}
                )
            """
        )
    )
    prelude = f"URL = {server_url!r}\nLAB_REQUEST = {LAB_REQUEST!r}\n"
    pytester.makepyfile(test_api=prelude + textwrap.dedent(tests))


ONE_CALL_TEST = """
    import os, httpx, pytest

    @pytest.mark.helios_cassette
    def test_calls():
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=LAB_REQUEST).status_code == 200
"""
#: The cassette ONE_CALL_TEST records, relative to the project.
ONE_CALL_CASSETTE = "cassettes/test_api/test_calls.yaml"


def record_one_call(pytester: pytest.Pytester, server_url: str) -> Path:
    """A project whose one test makes one call, recorded against ``server_url``; its cassette."""
    write_project(pytester, server_url, ONE_CALL_TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    return pytester.path / ONE_CALL_CASSETTE
