"""A webhook URL the HTTP client cannot send to is refused at submit, and a run that fails
inside the emulator ends as an error, said once in the log: no run is ever stuck in
``processing`` and no task exception goes unretrieved."""

from __future__ import annotations

import gc
import logging

import pytest

import pytest_helios.emulator.results as results
from pytest_helios.emulator import Account, HeliosEmulator
from tests.samples import lab_request

from .conftest import post_as
from .receiver import Receiver


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://xn--/", "Malformed A-label, no Punycode eligible content found"),
        ("https://xn--ls8h.la/", "Codepoint U+1F4A9 at position 1 of '💩' not allowed"),
    ],
)
def test_a_webhook_host_that_is_not_valid_idna_is_refused_at_submit(
    emulator: HeliosEmulator, account: Account, url: str, reason: str
) -> None:
    key = account.create_key("ci").value
    response = post_as(key, emulator.url, "/api/v1/lab-results", lab_request(url))
    assert response.status_code == 400
    host = url.split("/")[2]
    assert response.json()["details"] == [
        {"field": "webhookUrl", "message": f"has an invalid host name {host!r} ({reason})"}
    ]
    assert [r for r in emulator.runs if r.account_id == account.id] == []


def test_a_run_that_fails_inside_the_emulator_ends_as_error_and_is_logged_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the results broke")

    monkeypatch.setattr(results, "lab_result", broken)
    with caplog.at_level(logging.ERROR), HeliosEmulator() as emu:
        key = emu.create_account("broken").create_key("ci").value
        run_id = post_as(key, emu.url, "/api/v1/lab-results", lab_request(receiver.url)).json()[
            "runId"
        ]
        emu.wait_for_deliveries(run_id=run_id)
        run = emu.run(run_id)
        assert (run.status, run.ended) == ("error", True)
        assert len(emu.deliveries_for(run_id)) == 7  # its status updates went out
        slots = post_as(key, emu.url, "/api/v1/lab-results", lab_request(receiver.url)).headers
        assert slots["X-Concurrent-Active"] == "1"  # the failed run gave its slot back
        emu.wait_for_deliveries()
    gc.collect()  # an unretrieved task exception would be reported now
    said = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert said == [
        f"run {run_id} (lab-results) failed inside the emulator and ended as error: "
        "RuntimeError: the results broke"
    ]
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
