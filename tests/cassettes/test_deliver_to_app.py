"""helios_cassette.deliver_webhooks takes an app as well as a URL: a recorded run's webhooks,
freshly signed, delivered in-process into a WSGI or ASGI app, with the Host it trusts."""

from __future__ import annotations

import pytest

from pytest_helios import HeliosEmulator
from tests.cassettes.helpers import write_project

APP_TEST = """
    import os, time, httpx, pytest
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import Response
    from starlette.routing import Route
    from tests.cassettes.helpers import Receiver
    from pytest_helios import verify_webhook

    SECRET = os.environ["HELIOS_WEBHOOK_SECRET"]
    seen = []


    async def hook(request):
        payload = verify_webhook(await request.body(), request.headers, SECRET)
        seen.append(("asgi", request.headers["host"], payload["sequenceNumber"]))
        return Response(status_code=200)


    asgi = Starlette(
        routes=[Route("/hook", hook, methods=["POST"])],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["gateway.test"])],
    )


    def wsgi(environ, start_response):
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        payload = verify_webhook(body, environ, SECRET)
        seen.append(("wsgi", environ["HTTP_HOST"], payload["sequenceNumber"]))
        start_response("200 OK", [])
        return [b""]


    @pytest.mark.helios_cassette(replay_webhooks=False)
    def test_a_run(helios_cassette):
        with Receiver() as handler:
            payload = {**LAB_REQUEST, "webhookUrl": handler.url}
            with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
                assert client.post(URL + "/api/v1/lab-results", json=payload).status_code == 200
            deadline = time.monotonic() + 10
            while helios_cassette.recording and len(handler.deliveries) < 8:
                assert time.monotonic() < deadline, "the run's webhooks did not arrive"
                time.sleep(0.05)
        if helios_cassette.recording:
            return
        as_sent = {"Host": "gateway.test"}
        assert helios_cassette.deliver_webhooks(asgi, SECRET, path="/hook", headers=as_sent) == [
            200
        ] * 8
        assert helios_cassette.deliver_webhooks(wsgi, SECRET, path="/hook") == [200] * 8
        # an untrusted Host (testserver, the default) is refused by the middleware
        assert helios_cassette.deliver_webhooks(asgi, SECRET, path="/hook") == [400] * 8
        numbers = list(range(1, 9))
        assert seen == [("asgi", "gateway.test", n) for n in numbers] + [
            ("wsgi", "testserver", n) for n in numbers
        ]
"""


def test_a_replayed_runs_webhooks_are_delivered_into_an_asgi_or_a_wsgi_app(
    pytester: pytest.Pytester, emulator: HeliosEmulator
) -> None:
    write_project(pytester, emulator.url, APP_TEST)
    pytester.runpytest("--helios-record-mode=once").assert_outcomes(passed=1)
    emulator.stop()  # replay is offline

    pytester.runpytest().assert_outcomes(passed=1)
