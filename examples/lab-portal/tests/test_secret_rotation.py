"""Rotating the webhook secret: Regenerate invalidates the old secret at once, so the portal
accepts both (new first) until the deliveries signed with the old one have drained."""

from __future__ import annotations

import json

import pytest
from pytest_helios.webhooks import WebhookFactory

pytestmark = pytest.mark.helios(target="emulator")  # the real API cannot regenerate on demand


def test_during_a_rotation_deliveries_signed_with_either_secret_are_stored(
    portal, labs, helios_account, webhook_secrets
):
    old = webhook_secrets[0]
    new = helios_account.regenerate_webhook_secret()
    webhook_secrets[:] = [new, old]  # deployed: both accepted

    _, answer = portal.submit(labs)  # Helios now signs with the new secret
    assert portal.wait_for_outcome(answer["runId"])["status"] == "completed"
    late = WebhookFactory(old)("lab-results")  # a retry signed before the regenerate
    assert late.send(portal.webhook_url).status_code == 200


def test_after_the_rotation_the_old_secret_is_refused(portal, helios_account, webhook_secrets):
    old = webhook_secrets[0]
    webhook_secrets[:] = [helios_account.regenerate_webhook_secret()]  # old one removed

    response = WebhookFactory(old)("lab-results").send(portal.webhook_url)

    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "signature does not match the body"}
