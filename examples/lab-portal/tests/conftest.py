"""Fixtures of the portal's suite: the portal served on a real loopback port, wired to the
Helios target of the run (pytest-helios's embedded emulator by default, the real API with
--helios-live), and a small in-process client to drive it.

Cassettes need one setting here, the pseudonym salt: pytest-helios stores the emulator
account's URL the portal talks to as https://api.heliosai.health, so they replay against any
target, but pseudonyms are keyed with the project's secret salt. This example's patients are
made up, so it commits a salt of its own and replays on any clone; a real project keeps its
salt secret (HELIOS_PSEUDONYM_SALT in CI, see docs/cassettes.md)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_helios.cassettes import CassetteConfig
from pytest_helios.webhooks import serve_wsgi

from lab_portal.app import Portal, create_app


class PortalDriver:
    """The portal under test: ``app`` (in-process), ``url`` (served), and what a browser or
    an API user would do with it. Requests go in-process, so no cassette records them."""

    def __init__(self, app: Portal, url: str) -> None:
        self.app = app
        self.url = url
        self.webhook_url = app.webhook_url

    def request(
        self, method: str, path: str, payload: Any = None, *, body: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Call the app in-process with ``payload`` as JSON (or exactly ``body``)."""
        if body is None:
            body = b"" if payload is None else json.dumps(payload).encode()
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(body),
        }
        answer: list[str] = []
        chunks = self.app(environ, lambda status, headers: answer.append(status))
        return int(answer[0].split()[0]), json.loads(b"".join(chunks))

    def submit(self, labs: list[dict[str, Any]], **fields: Any) -> tuple[int, dict[str, Any]]:
        return self.request(
            "POST", "/submissions", {"patientRef": "MRN-0042", "labResults": labs, **fields}
        )

    def show(self, run_id: str) -> dict[str, Any]:
        status, answer = self.request("GET", f"/submissions/{run_id}")
        assert status == 200, answer
        return answer

    def wait_for_outcome(self, run_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The run as the portal shows it, once its completed or error webhook is stored."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.show(run_id)
            if shown["status"] in ("completed", "error") or time.monotonic() > deadline:
                return shown
            time.sleep(0.02)


PortalFactory = Callable[..., PortalDriver]


@pytest.fixture
def webhook_secrets(helios_webhook_secret: str) -> list[str]:
    """The secrets the portal accepts; a test changes the list to model a rotation."""
    return [helios_webhook_secret]


@pytest.fixture
def make_portal(
    helios_client: Any, helios_api_key: str, webhook_secrets: list[str], tmp_path: Any
) -> Iterator[PortalFactory]:
    """Build portals served on free loopback ports; ``api_key=`` overrides the key."""
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def build(*, api_key: str | None = None) -> PortalDriver:
            app = create_app(
                helios_base_url=str(helios_client.base_url),
                helios_api_key=api_key or helios_api_key,
                webhook_secrets=lambda: webhook_secrets,
                database=str(tmp_path / f"portal-{next(numbers)}.sqlite3"),
            )
            stack.callback(app.store.close)
            stack.callback(app.helios.close)
            app.public_url = stack.enter_context(serve_wsgi(app)).rstrip("/")
            return PortalDriver(app, app.public_url)

        yield build


@pytest.fixture
def portal(make_portal: PortalFactory) -> PortalDriver:
    """The portal, with the run's API key and webhook secret."""
    return make_portal()


LABS = [
    {
        "name": "Creatinine",
        "value": "1.8 mg/dL",
        "flag": "High",
        "date": "2025-01-15",
        "referenceRange": "0.7-1.3 mg/dL",
        "category": "Renal",
    },
    {
        "name": "eGFR",
        "value": "38 mL/min/1.73m2",
        "flag": "Low",
        "date": "2025-01-15",
        "referenceRange": ">60 mL/min/1.73m2",
        "category": "Renal",
    },
]


@pytest.fixture
def labs() -> list[dict[str, Any]]:
    return [dict(lab) for lab in LABS]


@pytest.fixture
def helios_cassette_config(helios_cassette_config: CassetteConfig) -> CassetteConfig:
    """The example's public salt: synthetic patients only (never do this with real data)."""
    return dataclasses.replace(
        helios_cassette_config, pseudonym_salt="lab-portal example, synthetic patients only"
    )
