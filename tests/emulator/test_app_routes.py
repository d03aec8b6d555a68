"""HeliosEmulator.route_webhooks: a run's webhooks delivered straight into a WSGI or ASGI app,
with no port, signed, logged and retried like any delivery."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pytest_helios import HeliosClient, verify_webhook
from pytest_helios.emulator import Account, ApiKey, HeliosEmulator

from .conftest import post_as

LABS = [{"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"}]


class AsgiEndpoint:
    """A Starlette endpoint behind TrustedHostMiddleware that verifies every delivery."""

    def __init__(self, secret: str, *, fail_first: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.seen: list[tuple[str, str, int]] = []  # (host, path, sequenceNumber)

        async def hook(request: Request) -> Response:
            payload = verify_webhook(await request.body(), request.headers, self.secret)
            self.seen.append((request.headers["host"], request.url.path, payload["sequenceNumber"]))
            if self.fail_first:
                self.fail_first -= 1
                return Response(status_code=503)
            return Response(status_code=200)

        self.app = Starlette(
            routes=[Route("/hook", hook, methods=["POST"])],
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["gateway.test"])],
        )


def submit(emulator: HeliosEmulator, key: ApiKey, url: str) -> str:
    with HeliosClient(key.value, base_url=emulator.url) as client:
        return client.submit_lab_results(lab_results=LABS, webhook_url=url).run_id


def test_an_asgi_app_behind_trusted_hosts_gets_a_runs_webhooks_with_no_port(
    emulator: HeliosEmulator, account: Account, api_key: ApiKey
) -> None:
    endpoint = AsgiEndpoint(account.webhook_secret)
    emulator.route_webhooks("gateway.test", endpoint.app, account=account)

    run_id = submit(emulator, api_key, "http://gateway.test/hook")
    attempts = emulator.wait_for_deliveries(run_id=run_id)

    assert endpoint.seen == [("gateway.test", "/hook", n) for n in range(1, 9)]
    assert [(a.url, a.status_code, a.attempt) for a in attempts] == [
        ("http://gateway.test/hook", 200, 1)
    ] * 8


def test_a_wsgi_app_gets_them_on_a_worker_thread_with_its_host_and_path(
    emulator: HeliosEmulator, account: Account, api_key: ApiKey
) -> None:
    seen: list[tuple[str, str, int]] = []
    threads: set[str] = set()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        payload = verify_webhook(body, environ, account.webhook_secret)
        seen.append((environ["HTTP_HOST"], environ["PATH_INFO"], payload["sequenceNumber"]))
        threads.add(threading.current_thread().name)
        start_response("204 No Content", [])
        return [b""]

    emulator.route_webhooks("Hooks.Clinic.Example", app, account=account)

    run_id = submit(emulator, api_key, "https://hooks.clinic.example/helios/in?x=1")
    emulator.wait_for_deliveries(run_id=run_id)

    assert seen == [("hooks.clinic.example", "/helios/in", n) for n in range(1, 9)]
    assert "helios-emulator" not in " ".join(threads)  # not the emulator's loop thread


def test_an_app_that_answers_503_or_raises_is_retried_like_a_server(
    emulator: HeliosEmulator, account: Account, api_key: ApiKey
) -> None:
    endpoint = AsgiEndpoint(account.webhook_secret, fail_first=1)
    emulator.route_webhooks("gateway.test", endpoint.app, account=account)
    raised = []

    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raised.append(1)
        raise RuntimeError("the database is down")

    run_id = submit(emulator, api_key, "http://gateway.test/hook")
    first = emulator.wait_for_deliveries(run_id=run_id)
    # the retry goes in the background while the run goes on
    assert [(a.attempt, a.status_code, a.error) for a in first if a.sequence_number == 1] == [
        (1, 503, "HTTP 503"),
        (2, 200, None),
    ]
    assert endpoint.seen[-1] == ("gateway.test", "/hook", 1)

    emulator.route_webhooks("gateway.test", broken, account=account)  # replaces the first
    run_id = submit(emulator, api_key, "http://gateway.test/hook")
    attempts = emulator.wait_for_deliveries(run_id=run_id)
    assert {(a.status_code, a.error) for a in attempts} == {(500, "HTTP 500")}
    assert len(attempts) == 8 * 4  # every webhook, every attempt
    assert len(raised) == 32


def test_an_app_slower_than_the_delivery_timeout_is_a_timeout() -> None:
    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    with HeliosEmulator(delivery_attempts=1, delivery_timeout=0.05) as emulator:
        account = emulator.create_account("slow")
        emulator.route_webhooks("gateway.test", stuck, account=account)
        run_id = submit(emulator, account.create_key("ci"), "http://gateway.test/hook")
        attempts = emulator.wait_for_deliveries(run_id=run_id)

    assert {a.error for a in attempts} == {"timeout"}


def test_an_accounts_route_serves_that_account_only_and_ends_when_it_is_forgotten(
    emulator: HeliosEmulator,
) -> None:
    owner, other = emulator.create_account("owner"), emulator.create_account("other")
    endpoint = AsgiEndpoint(owner.webhook_secret)
    emulator.route_webhooks("forgotten.test", endpoint.app, account=owner)
    other_key = other.create_key("ci")

    # another account's run to that host is not routed: a .test name never resolves
    run_id = submit(emulator, other_key, "http://forgotten.test/hook")
    attempts = emulator.wait_for_deliveries(run_id=run_id)
    assert all(a.error and a.error.startswith("refused: forgotten.test") for a in attempts)
    assert endpoint.seen == []

    emulator.forget_account(owner)
    # no route left: http:// to a host that is not loopback is refused again
    refused = post_as(
        other_key.value,
        emulator.url,
        "/api/v1/lab-results",
        {"webhookUrl": "http://forgotten.test/hook", "labResults": LABS},
    )
    assert refused.status_code == 400
    assert refused.json()["details"] == [
        {
            "field": "webhookUrl",
            "message": "must use https (http is accepted only for loopback hosts)",
        }
    ]


def test_an_emulator_wide_route_serves_every_account_until_its_with_block_ends(
    emulator: HeliosEmulator,
) -> None:
    first, second = emulator.create_account("first"), emulator.create_account("second")
    received: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received.append(httpx.Headers(scope["headers"])["x-helios-run-id"])
        assert message["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with emulator.route_webhooks("wide.test", app) as route:
        assert repr(route) == "<WebhookRoute wide.test>"
        runs = [submit(emulator, a.create_key("ci"), "http://wide.test/h") for a in (first, second)]
        for run_id in runs:
            emulator.wait_for_deliveries(run_id=run_id)

    # the two runs deliver concurrently: every webhook of each, in whatever interleaving
    assert sorted(received) == sorted([runs[0]] * 8 + [runs[1]] * 8)
    later = submit(emulator, first.create_key("ci2"), "https://wide.test/h")
    attempts = emulator.wait_for_deliveries(run_id=later)
    assert all(a.error and a.error.startswith("refused: ") for a in attempts)


@pytest.mark.parametrize("host", ["http://gateway.test", "gateway.test:8000", "", "*.test"])
def test_a_route_needs_a_host_name(emulator: HeliosEmulator, host: str) -> None:
    with pytest.raises(ValueError, match=r"host must be a host name such as 'gateway\.test', got"):
        emulator.route_webhooks(host, lambda environ, start_response: [])


def test_a_url_is_no_app_to_route_to(emulator: HeliosEmulator) -> None:
    with pytest.raises(TypeError, match="a URL needs no route: send it as the webhookUrl"):
        emulator.route_webhooks("gateway.test", "http://127.0.0.1:8000/hook")


def test_a_tests_route_ends_with_its_helios_account(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_helios import verify_webhook

        LABS = [{"name": "Ferritin", "value": "8 ng/mL", "flag": "Low"}]
        seen = []


        def app(environ, start_response):
            seen.append(environ["HTTP_HOST"])
            start_response("200 OK", [])
            return [b""]


        def test_routed(helios_client, helios_emulator, helios_account):
            helios_emulator.route_webhooks("gateway.test", app, account=helios_account)
            run = helios_client.submit_lab_results(
                lab_results=LABS, webhook_url="http://gateway.test/hook"
            )
            helios_emulator.wait_for_deliveries(run_id=run.run_id)
            assert seen == ["gateway.test"] * 8


        def test_no_route_left(helios_client):
            import pytest
            from pytest_helios import HeliosValidationError

            with pytest.raises(HeliosValidationError, match="must use https"):
                helios_client.submit_lab_results(
                    lab_results=LABS, webhook_url="http://gateway.test/hook"
                )
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)
