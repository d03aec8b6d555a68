"""The gateway: ``POST /labs`` submits a patient's lab results to Helios with
``AsyncHeliosClient``; ``POST /helios/webhook`` verifies each delivery over the raw body with
``verify_webhook`` and stores it once per ``(runId, sequenceNumber)``; ``GET /runs/{run_id}``
shows what was stored. Everything that differs between production and a test (where Helios
is, the key, the secret, the URL Helios delivers to, the trusted host names) is a setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pytest_helios import (
    AsyncHeliosClient,
    HeliosAuthError,
    HeliosError,
    HeliosRateLimited,
    HeliosValidationError,
    WebhookVerificationError,
    verify_webhook,
)
from starlette.middleware.trustedhost import TrustedHostMiddleware

from gateway.store import Store

#: where Helios delivers webhooks, on this gateway
WEBHOOK_PATH = "/helios/webhook"


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration (from the environment in production, from fixtures in tests)."""

    helios_api_key: str
    webhook_secret: str
    #: where Helios delivers this gateway's webhooks: its /helios/webhook as Helios reaches it
    webhook_url: str
    helios_base_url: str = "https://api.heliosai.health"
    #: the Host names this gateway answers to (TrustedHostMiddleware); others get 400
    allowed_hosts: tuple[str, ...] = ("gateway.example.com",)
    #: seconds to wait for Helios to accept a run
    helios_timeout: float = 30.0
    #: the SQLite database: a file, or ":memory:" (one per app)
    database: str = ":memory:"


class LabSubmission(BaseModel):
    patientRef: str
    labResults: list[dict[str, Any]]


def create_app(settings: Settings) -> FastAPI:
    """A gateway with its own store; ``app.state.settings`` may be replaced while it runs
    (say, once the URL it is served at is known)."""
    app = FastAPI(title="Helios Gateway")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    app.state.settings = settings
    store = app.state.store = Store(settings.database)

    @app.post("/labs", status_code=202)
    async def submit_labs(submission: LabSubmission) -> JSONResponse:
        current: Settings = app.state.settings
        helios = AsyncHeliosClient(
            current.helios_api_key,
            base_url=current.helios_base_url,
            timeout=current.helios_timeout,
        )
        async with helios:
            try:
                run = await helios.submit_lab_results(
                    lab_results=submission.labResults, webhook_url=current.webhook_url
                )
            except HeliosValidationError as exc:
                details = [{"field": e.field, "message": e.message} for e in exc.field_errors]
                return JSONResponse({"error": "Helios refused the labs", "details": details}, 422)
            except HeliosRateLimited as exc:
                retry = str(math.ceil(exc.retry_after or 60))  # whole seconds, as HTTP wants
                return JSONResponse({"error": "Helios is busy"}, 503, {"Retry-After": retry})
            except HeliosAuthError:
                return JSONResponse({"error": "the gateway's Helios key was refused"}, 502)
            except HeliosError as exc:  # 5xx, a timeout, a reset, an answer without a runId
                return JSONResponse({"error": "Helios unavailable", "detail": exc.message}, 502)
        store.add_run(run.run_id, submission.patientRef)
        return JSONResponse({"runId": run.run_id, "status": run.status}, 202)

    @app.post(WEBHOOK_PATH)
    async def helios_webhook(request: Request) -> JSONResponse:
        body = await request.body()  # the raw bytes: the signature covers exactly these
        try:
            payload = verify_webhook(body, request.headers, app.state.settings.webhook_secret)
        except WebhookVerificationError as exc:
            return JSONResponse({"error": exc.reason}, 400)
        return JSONResponse({"stored": store.record(payload, body)})

    @app.get("/runs/{run_id}")
    async def show_run(run_id: str) -> JSONResponse:
        run = store.run(run_id)
        if run is None:
            return JSONResponse({"error": f"no run {run_id}"}, 404)
        return JSONResponse(run)

    return app
