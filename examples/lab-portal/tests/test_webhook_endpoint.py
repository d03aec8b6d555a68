"""The portal's webhook endpoint, fed with pytest-helios's fake deliveries: signed with the
run's webhook secret, in every kind and every named bad variant, in-process and over HTTP."""

from __future__ import annotations

import json

import pytest
from pytest_helios import WebhookVerificationError, verify_webhook

from lab_portal.app import WEBHOOK_PATH
from lab_portal.signatures import InvalidWebhook, verify


def deliver(portal, delivery):
    response = delivery.deliver_to(portal.app, path=WEBHOOK_PATH)
    return response.status_code


def test_a_signed_lab_results_delivery_is_stored(portal, fake_webhook):
    delivery = fake_webhook("lab-results")

    assert deliver(portal, delivery) == 200
    assert portal.app.store.event_keys() == [delivery.key]


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("tampered-body", "signature does not match the body"),
        ("previous-secret", "signature does not match the body"),
        ("stale-timestamp", "X-Helios-Timestamp is more than 5 minutes away"),
        ("future-timestamp", "X-Helios-Timestamp is more than 5 minutes away"),
        ("missing-signature", "missing X-Helios-Signature header"),
        ("signature-uppercase-hex", "malformed X-Helios-Signature header"),
        ("timestamp-with-fraction", "malformed X-Helios-Timestamp header"),
    ],
)
def test_a_bad_delivery_is_refused_400_with_the_reason_and_not_stored(
    portal, fake_webhook, variant, reason
):
    bad = fake_webhook("lab-results").variant(variant)

    response = bad.deliver_to(portal.app, path=WEBHOOK_PATH)

    assert (response.status_code, json.loads(response.content)) == (400, {"error": reason})
    assert portal.app.store.event_keys() == []


def test_a_body_that_a_re_serializing_handler_would_break_is_accepted(portal, fake_webhook):
    """The signature is checked over the raw bytes, not over json.dumps(json.loads(body))."""
    canary = fake_webhook("lab-results").variant("reserialization-canary")
    assert deliver(portal, canary) == 200


def test_a_run_delivered_shuffled_and_retried_is_stored_once_per_step_in_order(
    portal, fake_webhook
):
    run = fake_webhook.run("lab-results")
    portal.app.store.add_submission(run.final.run_id, "MRN-0042", lab_count=2)
    for delivery in run.shuffled(seed=3).with_duplicates(3):
        assert deliver(portal, delivery) == 200

    shown = portal.show(run.final.run_id)

    assert sorted(portal.app.store.event_keys()) == run.keys  # 8 events, none twice
    assert shown["status"] == "completed"
    assert shown["steps"][0] == "Processing started"
    assert len(shown["steps"]) == 7


def test_a_final_payload_replayed_with_a_fresh_timestamp_changes_nothing(portal, fake_webhook):
    """The timestamp is not signed, so a replay verifies: the (runId, sequenceNumber) dedupe
    is what keeps it from being processed twice."""
    final = fake_webhook("lab-results")
    replay = final.variant("replayed-with-fresh-timestamp")

    assert deliver(portal, final) == 200
    response = replay.deliver_to(portal.app, path=WEBHOOK_PATH)

    assert (response.status_code, json.loads(response.content)) == (200, {"stored": False})
    assert portal.app.store.event_keys() == [final.key]


def test_a_failed_run_is_stored_with_its_error(portal, fake_webhook):
    run = fake_webhook.run("lab-results", fail_at_step=4)
    portal.app.store.add_submission(run.final.run_id, "MRN-0042", lab_count=2)
    run.send(portal.webhook_url)  # over a real socket this time

    shown = portal.show(run.final.run_id)

    assert shown["status"] == "error"
    assert shown["error"]["message"] == run.final.payload["error"]["message"]
    assert len(shown["steps"]) == 4


def test_a_signed_body_that_is_not_a_webhook_is_refused(portal, fake_webhook):
    not_a_webhook = fake_webhook.sign({"hello": "world"})
    assert deliver(portal, not_a_webhook) == 400


def test_the_portals_verifier_agrees_with_verify_webhook_on_every_variant(fake_webhook):
    """The portal has its own verifier; on every variant with a definite verdict it decides
    exactly as pytest-helios's verify_webhook does."""
    secret = fake_webhook.secret
    for variant in fake_webhook("light").variants():
        if variant.expected == "either":
            continue
        try:
            verify_webhook(variant.body, variant.header_dict(), secret, now=variant.now)
            reference = "accept"
        except WebhookVerificationError:
            reference = "reject"
        try:
            verify(variant.body, variant.headers, [secret], now=variant.now)
            ours = "accept"
        except InvalidWebhook:
            ours = "reject"
        assert (variant.name, ours) == (variant.name, reference)
