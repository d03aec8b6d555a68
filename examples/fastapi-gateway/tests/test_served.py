"""The gateway served on a loopback port with ``serve_asgi``: its callers and the emulator
reach it over real HTTP, as they would in production."""

from __future__ import annotations

import dataclasses

import httpx
from fastapi import FastAPI
from pytest_helios.webhooks import serve_asgi

from gateway import WEBHOOK_PATH

LABS = [{"name": "Potassium", "value": "5.9 mmol/L", "flag": "High"}]


def test_a_run_through_the_served_gateway_is_stored_completed(
    gateway: FastAPI, helios_emulator
) -> None:
    with serve_asgi(gateway) as url:
        # Helios must deliver where the gateway is served
        gateway.state.settings = dataclasses.replace(
            gateway.state.settings, webhook_url=url + WEBHOOK_PATH.lstrip("/")
        )
        with httpx.Client(base_url=url) as http:
            answer = http.post("/labs", json={"patientRef": "patient-9", "labResults": LABS})
            assert answer.status_code == 202, answer.text
            run_id = answer.json()["runId"]

            attempts = helios_emulator.wait_for_deliveries(run_id=run_id)

            assert {a.url for a in attempts} == {url + WEBHOOK_PATH.lstrip("/")}
            assert [a.status_code for a in attempts] == [200] * 8
            shown = http.get(f"/runs/{run_id}").json()
    assert (shown["status"], shown["steps"]) == ("completed", [*range(1, 9)])
    assert shown["result"]["labResults"][0]["unit"] == "mmol/L"
