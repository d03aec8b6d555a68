"""Submitting lab results to Helios, with plain httpx, as the service's own code.

``POST {base_url}/api/v1/lab-results`` with the ``x-api-key`` header; Helios answers 200
``{"runId", "status": "accepted"}`` and later POSTs the analysis to ``webhookUrl``. Errors
become ``HeliosRefused`` carrying Helios's status and message (never the key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx


class HeliosRefused(Exception):
    """Helios did not accept the submission: ``status`` (None: unreachable) and ``message``."""

    def __init__(self, status: int | None, message: str, body: Any = None) -> None:
        super().__init__(f"Helios answered {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body


class HeliosGateway:
    """The one place the portal talks to Helios."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"x-api-key": api_key},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def submit_lab_results(
        self,
        lab_results: Sequence[Mapping[str, Any]],
        *,
        webhook_url: str,
        patient_context: Mapping[str, Any] | None = None,
    ) -> str:
        """Submit the labs; return the ``runId`` Helios accepted them under."""
        body: dict[str, Any] = {"webhookUrl": webhook_url, "labResults": list(lab_results)}
        if patient_context:
            body["patientContext"] = dict(patient_context)
        try:
            response = self._http.post("/api/v1/lab-results", json=body)
        except httpx.HTTPError as error:
            raise HeliosRefused(None, f"Helios is unreachable ({type(error).__name__})") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 200 and isinstance(answer, dict) and "runId" in answer:
            return str(answer["runId"])
        message = answer.get("message") if isinstance(answer, dict) else None
        raise HeliosRefused(response.status_code, str(message or response.reason_phrase), answer)
