"""Sending deliveries to the app under test: in-process with a Host, or served on loopback."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys

import httpx
import pytest
from starlette.requests import Request  # module level: FastAPI resolves annotations here

from pytest_helios.webhooks import WebhookFactory, serve_asgi

SECRET = "whsec_" + secrets.token_hex(16)


def fastapi_app(allowed_hosts: list[str]) -> object:
    from fastapi import FastAPI
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app = FastAPI()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.state.hosts = []

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        app.state.hosts.append(request.headers["host"])
        return {"ok": "yes"}

    return app


def test_an_in_process_delivery_passes_trusted_host_middleware_as_testserver() -> None:
    pytest.importorskip("fastapi")
    app = fastapi_app(["testserver"])
    response = WebhookFactory(SECRET)("lab-results").deliver_to(app, path="/hook")
    assert (response.status_code, response.text) == (200, '{"ok":"yes"}')
    assert app.state.hosts == ["testserver"]  # type: ignore[attr-defined]


def test_the_caller_sets_the_host_and_other_headers_of_an_in_process_delivery() -> None:
    pytest.importorskip("fastapi")
    app = fastapi_app(["hooks.example.com"])
    run = WebhookFactory(SECRET).run("light")
    answers = run.deliver_to(app, path="/hook", headers={"Host": "hooks.example.com"})
    assert [a.status_code for a in answers] == [200] * len(run)
    refused = run.final.deliver_to(app, path="/hook")  # testserver is not allowed there
    assert (refused.status_code, refused.text) == (400, "Invalid host header")


DJANGO_APP = """
import json, sys
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    SECRET_KEY="only-for-this-test",
)
import django
django.setup()
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.core.wsgi import get_wsgi_application
from pytest_helios.webhooks import WebhookFactory

@csrf_exempt
def hook(request):
    return JsonResponse({"host": request.get_host()})

urlpatterns = [path("hook", hook)]
response = WebhookFactory(sys.argv[1])("status-update").deliver_to(
    get_wsgi_application(), path="/hook"
)
print(response.status_code, response.text)
"""


def test_an_in_process_delivery_passes_djangos_allowed_hosts_as_testserver() -> None:
    """In a fresh interpreter: Django's settings are process-wide."""
    pytest.importorskip("django")
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_APP, SECRET], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == '200 {"host": "testserver"}', done.stderr[-2000:]


def test_serve_asgi_serves_a_fastapi_app_with_its_lifespan_then_frees_the_port() -> None:
    pytest.importorskip("fastapi")
    from fastapi import FastAPI

    events: list[str] = []

    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.post("/hook")
    async def hook() -> dict[str, str]:
        return {"served": "yes"}

    with serve_asgi(app, path="/hook") as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/hook")
        delivered = WebhookFactory(SECRET)("deep").send(url)
        assert (delivered.status_code, delivered.text) == (200, '{"served":"yes"}')
        assert httpx.post(url).status_code == 200
        port = int(url.split(":")[2].split("/")[0])
    assert events == ["startup", "shutdown"]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_serve_asgi_says_when_the_app_cannot_start() -> None:
    async def broken(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(RuntimeError, match="the ASGI app did not start"), serve_asgi(broken):
        pass
