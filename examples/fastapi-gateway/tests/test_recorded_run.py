"""A recorded run: the gateway's call to Helios recorded once into tests/cassettes/ with the
run's webhooks beside it, replayed offline by default. The replay delivers the recorded
webhooks itself, freshly signed with the test account's secret, straight into the gateway
(``helios_cassette.deliver_webhooks(app, ...)``), under the host name it trusts.

Re-record against the emulator:

    python -m pytest tests/test_recorded_run.py --helios-record-mode=rewrite
"""

from __future__ import annotations

import pytest

from gateway import WEBHOOK_PATH

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.usefixtures("routed"),  # while recording, the emulator delivers into the gateway
    pytest.mark.helios_cassette(replay_webhooks=False),  # the test delivers them on replay
]

LABS = [
    {"name": "Ferritin", "value": "8 ng/mL", "flag": "Low", "date": "2025-01-15"},
    {"name": "Hemoglobin", "value": "10.9 g/dL", "flag": "Low", "date": "2025-01-15"},
]


async def test_a_recorded_run_delivered_into_the_gateway_is_stored_completed(
    client, gateway, helios_cassette, helios_emulator, helios_webhook_secret
) -> None:
    answer = await client.post("/labs", json={"patientRef": "patient-7", "labResults": LABS})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["runId"]

    if helios_cassette.recording:
        helios_emulator.wait_for_deliveries(run_id=run_id)
    else:  # replay: Helios is not called; its recorded webhooks are delivered here
        assert helios_cassette.webhooks[0]["run_id"] == run_id  # the recorded run
        answered = helios_cassette.deliver_webhooks(
            gateway,
            helios_webhook_secret,
            path=WEBHOOK_PATH,
            headers={"Host": "gateway.test"},
        )
        assert answered == [200] * 8

    shown = (await client.get(f"/runs/{run_id}")).json()
    assert (shown["status"], shown["steps"]) == ("completed", [*range(1, 9)])
    assert shown["result"]["metadata"] == {
        "labsReceived": 2,
        "labsAnalyzed": 2,
        "insightsMatched": 2,
    }
