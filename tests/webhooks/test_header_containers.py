"""verify_webhook takes the headers in whatever container the receiver's server or framework
hands over: each one, built from deliveries that real servers received, accepts the genuine
delivery and rejects the tampered one with the right error.

The deliveries go over real sockets to the standard library's ``http.server`` (its handler's
``self.headers``) and to ``wsgiref``'s WSGI server (the environ), and in-process to an ASGI app
(the scope's ``headers``); `header_containers.CONTAINERS` builds every container from those.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_helios import (
    MalformedHeader,
    SignatureMismatch,
    WebhookVerificationError,
    verify_webhook,
)
from pytest_helios.webhooks import WebhookFactory, serve_wsgi, verify_webhook_signature
from tests.loopback import LoopbackServer, QuietHandler

from .header_containers import CONTAINERS, Container, HeliosHeader, Wire

NOW = 1_705_320_000
SECRET = "whsec_header_containers_" + "c0ffee" * 4
GENUINE = WebhookFactory(SECRET, clock=lambda: NOW)("lab-results")
DELIVERIES = {
    "genuine": GENUINE,
    "tampered": GENUINE.variant("tampered-body"),
    "repeated": GENUINE.variant("duplicate-signature-header"),
}


# what a WSGI server puts in the environ for a request (wsgiref adds os.environ: left out)
CGI_KEYS = ("HTTP_", "CONTENT_", "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_")


class Received:
    """What the three receivers got for each delivery, by delivery name."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.messages: dict[str, Any] = {}
        self.environs: dict[str, dict[str, Any]] = {}
        self.scope_headers: dict[str, list[tuple[bytes, bytes]]] = {}

    def wire(self, name: str) -> Wire:
        return Wire(self.messages[name], self.environs[name], self.scope_headers[name])


@pytest.fixture(scope="module")
def received() -> Iterator[Received]:
    got = Received()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            name = self.path.strip("/")
            got.bodies.setdefault(name, []).append(self.body())
            got.messages[name] = self.headers
            self.reply(204)

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        name = environ["PATH_INFO"].strip("/")
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        got.bodies.setdefault(name, []).append(body)
        got.environs[name] = {k: v for k, v in environ.items() if k.startswith(CGI_KEYS)}
        start_response("204 No Content", [])
        return [b""]

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = scope["path"].strip("/")
        message = await receive()
        got.bodies.setdefault(name, []).append(message["body"])
        got.scope_headers[name] = list(scope["headers"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with LoopbackServer(Handler) as server, serve_wsgi(wsgi_app) as wsgi_url:
        for name, delivery in DELIVERIES.items():
            assert delivery.send(f"{server.url}/{name}").status_code == 204
            assert delivery.send(f"{wsgi_url}{name}").status_code == 204
            assert delivery.deliver_to(asgi_app, path=f"/{name}").status_code == 204
    for name, delivery in DELIVERIES.items():
        assert got.bodies[name] == [delivery.body] * 3  # the exact bytes, three times
    yield got


def outcome(body: bytes, headers: object) -> str:
    """'accepted', or the error verify_webhook raised, with its message."""
    try:
        payload = verify_webhook(body, headers, SECRET, now=NOW)  # type: ignore[arg-type]
    except WebhookVerificationError as error:
        return f"{type(error).__name__}: {error}"
    assert verify_webhook_signature(body, headers, SECRET, now=NOW) == body  # type: ignore[arg-type]
    assert payload == GENUINE.payload
    return "accepted"


every_container = pytest.mark.parametrize(
    "container", [pytest.param(c, id=c.name) for c in CONTAINERS]
)


@every_container
def test_a_genuine_delivery_verifies_whatever_container_its_headers_come_in(
    received: Received, container: Container
) -> None:
    headers = container.build(received.wire("genuine"))
    assert outcome(GENUINE.body, headers) == "accepted"


@every_container
def test_a_tampered_delivery_is_a_signature_mismatch_whatever_container_its_headers_come_in(
    received: Received, container: Container
) -> None:
    tampered = DELIVERIES["tampered"]
    assert outcome(tampered.body, container.build(received.wire("tampered"))).startswith(
        f"{SignatureMismatch.__name__}: X-Helios-Signature does not match the body"
    )


@pytest.mark.parametrize(
    "container", [pytest.param(c, id=c.name) for c in CONTAINERS if c.keeps_repeats]
)
def test_a_repeated_signature_header_is_malformed_in_every_container_that_keeps_the_repeat(
    received: Received, container: Container
) -> None:
    """Servers that build a WSGI environ join a repeated header with a comma (PEP 3333)."""
    repeated = DELIVERIES["repeated"]
    message = outcome(repeated.body, container.build(received.wire("repeated")))
    assert message in (
        f"{MalformedHeader.__name__}: X-Helios-Signature header is malformed: "
        "it appears 2 times; send it exactly once",
        f"{MalformedHeader.__name__}: X-Helios-Signature header is malformed: "
        "the hex digest must be 64 characters, got 136",
    )


def test_the_wire_helper_builds_what_the_real_servers_built(received: Received) -> None:
    """The fuzzing builds its containers with Wire.from_pairs: it matches the real servers."""
    for name in DELIVERIES:
        real = received.wire(name)
        built = Wire.from_pairs(real.pairs)
        assert built.pairs == real.pairs
        assert headers_of(built.environ) == headers_of(real.environ)
        assert helios_pairs(built.scope_headers) == helios_pairs(real.scope_headers)


def headers_of(environ: dict[str, Any]) -> dict[str, Any]:
    """The request headers of a WSGI environ but Host (the two servers have their own)."""
    return {k: v for k, v in environ.items() if k.startswith("HTTP_") and k != "HTTP_HOST"}


def helios_pairs(scope_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [pair for pair in scope_headers if pair[0].startswith(b"x-helios-")]


def test_header_names_that_are_str_enum_members_are_found() -> None:
    headers = {HeliosHeader(name): value for name, value in GENUINE.headers}
    assert verify_webhook(GENUINE.body, headers, SECRET, now=NOW) == GENUINE.payload
