"""The portal's API key: when Helios refuses it, the portal says why, with a 502, and never
shows the key. Runs against the emulator, and against the real API with --helios-live (with
HELIOS_REVOKED_API_KEY and HELIOS_FOREIGN_API_KEY set)."""

from __future__ import annotations


def test_a_revoked_key_makes_the_portal_answer_502_with_the_reason(make_portal, revoked_key, labs):
    portal = make_portal(api_key=revoked_key)

    status, answer = portal.submit(labs)

    assert (status, answer) == (
        502,
        {"error": "Helios refused our API key: API key has been revoked"},
    )


def test_a_key_of_another_account_makes_the_portal_answer_502_with_the_reason(
    make_portal, foreign_key, labs
):
    portal = make_portal(api_key=foreign_key)

    status, answer = portal.submit(labs)

    assert (status, answer) == (
        502,
        {"error": "Helios refused our API key: API key belongs to a different account"},
    )
    assert foreign_key not in str(answer)
