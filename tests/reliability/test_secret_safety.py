"""Secret safety: random secrets planted anywhere in recorded traffic never reach disk, and the
cassette linter finds every secret planted directly in a cassette file.

Secrets are generated at run time (never committed) and handed to the recording project by a
plugin object, so no file of the project holds them before the run. Recording goes against
``FakeHelios`` (tests/cassettes/helpers.py), whose ``/echo`` answers with everything it received,
so each planted secret comes back in the response too.
"""

from __future__ import annotations

import json
import random
import secrets
import string
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios.cassettes.lint import lint
from pytest_helios.cassettes.persister import dump, provenance
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

ALNUM = string.ascii_letters + string.digits


def _random(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def key_shaped(rng: random.Random) -> str:
    """A fresh secret of one of the shapes the scan knows without being told."""
    kind = rng.randrange(9)
    hexdigits = "0123456789abcdef"
    return [
        lambda: "sk_live_" + _random(rng, ALNUM, rng.randint(24, 48)),
        lambda: "sk_test_" + _random(rng, ALNUM, 32),
        lambda: "whsec_" + _random(rng, hexdigits, 48),
        lambda: "sha256=" + _random(rng, hexdigits, 64),
        lambda: "Bearer " + _random(rng, ALNUM + "._-", 30),
        lambda: "eyJ" + _random(rng, ALNUM, 20) + "." + _random(rng, ALNUM, 30) + ".sig",
        lambda: "AKIA" + _random(rng, string.ascii_uppercase + string.digits, 16),
        lambda: "ghp_" + _random(rng, ALNUM, 36),
        lambda: "xoxb-" + _random(rng, ALNUM + "-", 24),
    ][kind]()


# ---------------------------------------------------------------- planted in traffic

PLANTING_TEST = """
import json, os, httpx, pytest
from urllib.parse import urlencode

@pytest.mark.parametrize("index", range({count}))
@pytest.mark.helios_cassette
def test_plant(index, plants):
    plant = plants[index]
    secret, place, depth, name = plant["secret"], plant["place"], plant["depth"], plant["name"]
    headers = {{"x-api-key": os.environ["HELIOS_API_KEY"]}}
    params = {{}}
    body = {{**LAB_REQUEST}}
    content_type = "application/json"
    if place == "header":
        headers[name] = secret
    elif place == "query":
        params[name] = secret
    elif place in ("json", "json-list"):
        value = secret
        for level in range(depth):
            value = [value] if place == "json-list" and level % 2 else {{name + str(level): value}}
        body["data"] = value
    content = json.dumps(body).encode()
    if place == "form":
        content_type = "application/x-www-form-urlencoded"
        content = urlencode({{name: secret, "other": "value"}}).encode()
    elif place == "text":
        content_type = "text/plain; charset=utf-8"
        content = f"free text before {{secret}} and after".encode()
    headers["content-type"] = content_type
    path = "/echo" if content_type == "application/json" else "/api/v1/lab-results"
    with httpx.Client() as client:
        client.post(URL + path, params=params, headers=headers, content=content)
"""

PLACES = ("header", "query", "json", "json-list", "form", "text")
NAMES = ("x-note", "authorization", "token", "q", "comment", "apiKey", "x-partner", "cookie")


def plantings(
    count: int, rng: random.Random, known: list[str], partner_token: str
) -> list[dict[str, Any]]:
    """Where each secret goes: a known one (the API key, a variable named like a secret) or a
    key-shaped one anywhere; one of no known shape only in a place named like a secret."""
    found = []
    for _ in range(count):
        roll = rng.random()
        secret = rng.choice(known) if roll < 0.4 else key_shaped(rng)
        if roll >= 0.9:  # a value of no known shape, known only by the place it is sent in
            secret = rng.choice([_random(rng, ALNUM, 32), partner_token])
        place = rng.choice(PLACES)
        name = rng.choice(NAMES)
        if roll >= 0.9:
            place, name = rng.choice([("header", "authorization"), ("header", "x-api-key")])
        if place == "header" and name in ("cookie",):
            secret = f"session={secret}"
        found.append({"secret": secret, "place": place, "depth": rng.randint(1, 8), "name": name})
    return found


def test_secrets_planted_anywhere_in_traffic_never_reach_disk(
    pytester: pytest.Pytester, server: FakeHelios, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(secrets.randbits(32))
    count = max(scale().fuzz_examples // 3, 20)
    partner = _random(rng, ALNUM, 40)  # a secret of no known shape, known by its variable
    monkeypatch.setenv("PARTNER_TOKEN", partner)
    monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", "whsec_" + secrets.token_hex(24))
    known = [server.api_key, partner]
    plants = plantings(count, rng, known, server.partner_token)
    plugin = types.ModuleType("plants_plugin")
    plugin.plants = pytest.fixture(lambda: plants, name="plants")  # type: ignore[attr-defined]
    write_project(pytester, server.url, PLANTING_TEST.format(count=count))
    result = pytester.runpytest(
        "--helios-record-mode=once", "-p", "no:cacheprovider", plugins=[plugin]
    )

    outcomes = result.parseoutcomes()
    refused = result.stdout.str().count("refused to write cassette")
    assert outcomes.get("passed", 0) + refused == count, result.stdout.str()[-3000:]
    on_disk = [p for p in pytester.path.rglob("*") if p.is_file()]
    leaked = [
        (str(p.relative_to(pytester.path)), plant["place"], plant["name"])
        for p in on_disk
        for plant in plants
        if plant["secret"].encode() in p.read_bytes()
        or plant["secret"].split("=", 1)[-1].encode() in p.read_bytes()
    ]
    assert leaked == []
    for plant in plants:  # nor in what the user saw
        assert plant["secret"] not in result.stdout.str()
    cassettes = list((pytester.path / "cassettes").rglob("*.yaml"))
    assert len(cassettes) == outcomes.get("passed", 0)
    TALLY["secret safety", "secrets planted in recorded traffic"] += count
    TALLY["secret safety", "cassettes written (secrets scrubbed)"] += len(cassettes)
    TALLY["secret safety", "writes refused by the pre-write scan"] += refused
    TALLY["secret safety", "planted secrets found on disk"] += len(leaked)


# ---------------------------------------------------------------- planted in a cassette file

SEGMENT = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)


@st.composite
def planted_documents(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A cassette document with secrets planted at random places, and [(place, secret)]."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    count = draw(st.integers(1, 3))
    interactions: list[dict[str, Any]] = [
        {
            "request": {
                "method": "POST",
                "uri": "https://api.heliosai.health/api/v1/lab-results",
                "headers": {"content-type": ["application/json"]},
                "body": json.dumps({"labResults": []}),
            },
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"content-type": ["application/json"]},
                "body": {"string": json.dumps({"status": "accepted"})},
            },
        }
        for _ in range(count)
    ]
    planted: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 5))):
        index = draw(st.integers(0, count - 1))
        part = draw(st.sampled_from(["request", "response"]))
        message = interactions[index][part]
        where = f"interaction {index}, {part}"
        secret = draw(st.sampled_from(["shaped", "known"]))
        value = key_shaped(rng) if secret == "shaped" else "known-" + _random(rng, ALNUM, 24)
        place = draw(st.sampled_from(["header", "uri", "json", "text"]))
        if place == "uri" and part == "response":
            place = "header"
        if place == "header":
            name = "x-" + draw(SEGMENT).lower()
            message["headers"].setdefault(name, []).append(f"note {value} end")
            planted.append((f"{where}, header {name}", value))
        elif place == "uri":
            message["uri"] += ("&" if "?" in message["uri"] else "?") + f"q={value}"
            planted.append((f"{where}, uri", value))
        else:
            body = message["body"]["string"] if part == "response" else message["body"]
            try:
                parsed = json.loads(body) if place == "json" else None
            except ValueError:
                parsed = None  # an earlier text planting made it plain text
            if isinstance(parsed, dict):
                keys = draw(st.lists(SEGMENT, min_size=1, max_size=6))
                keys[0] = f"p{len(planted)}{keys[0]}"  # a subtree of its own
                node = parsed
                for key in keys[:-1]:
                    node = node.setdefault(key, {})
                node[keys[-1]] = value
                body = json.dumps(parsed)
            else:
                body = f"{body} {value}"
            path = f"{where}, body"
            if part == "response":
                message["body"]["string"] = body
            else:
                message["body"] = body
            planted.append((path, value))
    return {"helios": provenance("emulator"), "interactions": interactions}, planted


@settings(
    max_examples=scale().fuzz_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=planted_documents())
def test_the_linter_finds_every_secret_planted_in_a_cassette_file(
    tmp_path: Path, case: tuple[dict[str, Any], list[tuple[str, str]]]
) -> None:
    document, planted = case
    path = tmp_path / "cassettes" / "test_api" / "test_planted.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump(document))
    known = {value: "a planted secret" for _, value in planted if value.startswith("known-")}

    _, findings = lint([path], extra_secrets=known)

    secret_findings = [f for f in findings if "a known secret" in f or "key-shaped" in f]
    for place, value in planted:
        assert any(f.startswith(f"{path}: {place}") for f in secret_findings), (place, findings)
        assert all(value not in f for f in findings)  # named by place, never shown
    TALLY["secret safety", "secrets planted directly in cassette files"] += len(planted)
    TALLY["secret safety", "planted secrets the linter missed"] += 0  # any miss fails above
