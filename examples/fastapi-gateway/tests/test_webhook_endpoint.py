"""The webhook endpoint on its own, with fake deliveries signed with the test account's secret,
delivered in-process with ``deliver_to`` under the host name TrustedHostMiddleware allows."""

from __future__ import annotations

from fastapi import FastAPI

from gateway import WEBHOOK_PATH

#: the gateway's name in these tests (conftest.py): TrustedHostMiddleware refuses any other
AS_HELIOS_SENDS_IT = {"Host": "gateway.test"}


def test_a_signed_delivery_is_stored_and_its_retry_changes_nothing(
    gateway: FastAPI, fake_webhook
) -> None:
    delivery = fake_webhook("lab-results")

    first = delivery.deliver_to(gateway, path=WEBHOOK_PATH, headers=AS_HELIOS_SENDS_IT)
    again = delivery.deliver_to(gateway, path=WEBHOOK_PATH, headers=AS_HELIOS_SENDS_IT)

    assert (first.status_code, first.text) == (200, '{"stored":true}')
    assert (again.status_code, again.text) == (200, '{"stored":false}')
    assert gateway.state.store.webhook_count() == 1


def test_a_delivery_to_a_host_the_gateway_does_not_trust_is_refused(
    gateway: FastAPI, fake_webhook
) -> None:
    refused = fake_webhook("lab-results").deliver_to(gateway, path=WEBHOOK_PATH)  # testserver

    assert (refused.status_code, refused.text) == (400, "Invalid host header")
    assert gateway.state.store.webhook_count() == 0


def test_a_tampered_or_stale_delivery_is_refused_with_the_reason(
    gateway: FastAPI, fake_webhook
) -> None:
    delivery = fake_webhook("light")
    for name, reason in [
        ("tampered-body", "signature-mismatch"),
        ("stale-timestamp", "timestamp-out-of-tolerance"),
        ("missing-signature", "missing-header"),
    ]:
        answer = delivery.variant(name).deliver_to(
            gateway, path=WEBHOOK_PATH, headers=AS_HELIOS_SENDS_IT
        )
        assert (answer.status_code, answer.text) == (400, f'{{"error":"{reason}"}}'), name
    assert gateway.state.store.webhook_count() == 0


def test_a_whole_run_shuffled_and_retried_is_stored_once_in_order(
    gateway: FastAPI, fake_webhook
) -> None:
    gateway.state.store.add_run("run-1", "patient-7")
    run = fake_webhook.run("lab-results", run_id="run-1").shuffled(seed=3).with_duplicates(3)

    answers = run.deliver_to(gateway, path=WEBHOOK_PATH, headers=AS_HELIOS_SENDS_IT)

    assert {a.status_code for a in answers} == {200}
    assert [a.text for a in answers].count('{"stored":true}') == 8
    shown = gateway.state.store.run("run-1")
    assert (shown["status"], shown["steps"]) == ("completed", [1, 2, 3, 4, 5, 6, 7, 8])
