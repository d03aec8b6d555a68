"""Per-test results: ``helios_account.next_result(...)`` sets the analysis one run returns,
after the session's result hook, without touching any other test's runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_helios import HeliosClient, validate
from pytest_helios.emulator import Account, HeliosEmulator
from pytest_helios.webhooks import WebhookReceiver

LABS = [{"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"}]


def final_of(client: HeliosClient, receiver: WebhookReceiver) -> dict[str, Any]:
    run = client.submit_lab_results(lab_results=LABS, webhook_url=receiver.url)
    return receiver.wait_for_final(run.run_id)


def test_a_dict_is_merged_into_the_next_runs_result_only(
    helios_client: HeliosClient, helios_account: Account, helios_webhook_receiver: WebhookReceiver
) -> None:
    helios_account.next_result({"clinicianResponse": "Iron deficiency: start supplements."})

    first = final_of(helios_client, helios_webhook_receiver)
    second = final_of(helios_client, helios_webhook_receiver)

    validate("webhook-lab-results-completed", first)
    assert first["result"]["clinicianResponse"] == "Iron deficiency: start supplements."
    assert second["result"]["clinicianResponse"] == (
        "The patient presents with: Ferritin. Consider follow-up [1]."
    )


def test_a_function_changes_the_result_in_place_seeing_the_agent_and_the_request(
    helios_client: HeliosClient, helios_account: Account, helios_webhook_receiver: WebhookReceiver
) -> None:
    def nephrology(agent: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        names = ", ".join(lab["name"] for lab in request["labResults"])
        result["patientResponse"] = f"{agent}: {names} reviewed"

    helios_account.next_result(nephrology)

    final = final_of(helios_client, helios_webhook_receiver)

    assert final["result"]["patientResponse"] == "lab-results: Ferritin reviewed"


def test_results_queue_up_one_per_run(
    helios_client: HeliosClient, helios_account: Account, helios_webhook_receiver: WebhookReceiver
) -> None:
    helios_account.next_result({"clinicianResponse": "first"})
    helios_account.next_result({"clinicianResponse": "second"})

    responses = [final_of(helios_client, helios_webhook_receiver) for _ in range(2)]

    assert [f["result"]["clinicianResponse"] for f in responses] == ["first", "second"]


def test_a_result_the_schema_refuses_ends_the_run_with_an_error_webhook_saying_why(
    helios_client: HeliosClient, helios_account: Account, helios_webhook_receiver: WebhookReceiver
) -> None:
    helios_account.next_result({"metadata": {"labsReceived": "one"}})

    final = final_of(helios_client, helios_webhook_receiver)

    validate("webhook-error", final)
    assert final["error"]["code"] == "result_hook_failed"
    assert final["error"]["message"].startswith(
        "the emulator's result hook left an invalid payload: "
    )
    assert "labsReceived" in final["error"]["message"]


def test_a_function_that_raises_ends_the_run_with_an_error_webhook_naming_the_exception(
    helios_client: HeliosClient, helios_account: Account, helios_webhook_receiver: WebhookReceiver
) -> None:
    def broken(agent: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        raise KeyError("selectedElements")

    helios_account.next_result(broken)

    final = final_of(helios_client, helios_webhook_receiver)

    assert final["error"] == {
        "message": "the emulator's result hook raised KeyError: 'selectedElements'",
        "code": "result_hook_failed",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("done", "change must be a function (agent, request, result) or a dict, got 'done'"),
        (
            {"score": float("nan")},
            "change must be a JSON object (Out of range float values are not JSON compliant), "
            "got {'score': nan}",
        ),
    ],
)
def test_next_result_refuses_what_is_neither_a_function_nor_a_json_object(
    helios_account: Account, change: Any, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        helios_account.next_result(change)

    assert str(raised.value) == message


def test_the_admin_api_sets_the_next_result(
    helios_client: HeliosClient,
    helios_emulator: HeliosEmulator,
    helios_account: Account,
    helios_webhook_receiver: WebhookReceiver,
) -> None:
    answer = httpx.post(
        f"{helios_emulator.url}/_emulator/accounts/{helios_account.id}/states",
        json={"state": "next-result", "result": {"clinicianResponse": "From the admin API"}},
    )
    assert answer.status_code == 200, answer.text

    final = final_of(helios_client, helios_webhook_receiver)

    assert final["result"]["clinicianResponse"] == "From the admin API"


def test_the_session_hook_runs_first_and_other_tests_keep_its_results(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_helios_emulator_result(config, agent, request, result):
            result["clinicianResponse"] = "from the session hook"
            result["patientResponse"] = "from the session hook"
        """
    )
    pytester.makepyfile(
        """
        LABS = [{"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"}]

        def final(client, receiver):
            run = client.submit_lab_results(lab_results=LABS, webhook_url=receiver.url)
            return receiver.wait_for_final(run.run_id)["result"]

        def test_sets_its_own(helios_client, helios_account, helios_webhook_receiver):
            helios_account.next_result({"clinicianResponse": "from the test"})
            result = final(helios_client, helios_webhook_receiver)
            assert result["clinicianResponse"] == "from the test"
            assert result["patientResponse"] == "from the session hook"

        def test_keeps_the_session_hooks(helios_client, helios_webhook_receiver):
            result = final(helios_client, helios_webhook_receiver)
            assert result["clinicianResponse"] == "from the session hook"
        """
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=2)
