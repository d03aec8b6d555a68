"""The published test vectors (tests/vectors/webhook-signatures.json) hold for our implementation.

A verifier in any language can check itself against the same file.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_helios import WebhookVerificationError, sign_webhook, verify_webhook
from pytest_helios.webhooks import verify_webhook_signature

from .header_containers import CONTAINERS, Container, Wire

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS = json.loads((VECTORS_DIR / "webhook-signatures.json").read_text(encoding="utf-8"))


def by_name(section: str) -> list[Any]:
    return [pytest.param(vector, id=vector["name"]) for vector in VECTORS[section]]


@pytest.mark.parametrize("vector", by_name("signing"))
def test_sign_webhook_produces_the_published_headers(vector: dict[str, Any]) -> None:
    body = base64.b64decode(vector["body_base64"])
    headers = sign_webhook(
        body, vector["secret"], timestamp=vector["timestamp"], run_id=vector["run_id"]
    )
    assert headers == vector["expected_headers"]


@pytest.mark.parametrize("vector", by_name("signing"))
def test_the_published_signatures_verify(vector: dict[str, Any]) -> None:
    body = base64.b64decode(vector["body_base64"])
    verified = verify_webhook_signature(
        body, vector["expected_headers"], vector["secret"], now=vector["timestamp"]
    )
    assert verified == body


@pytest.mark.parametrize("vector", by_name("verification"))
def test_verify_webhook_gives_the_published_verdict(vector: dict[str, Any]) -> None:
    body = base64.b64decode(vector["body_base64"])
    arguments = {"now": vector["now"], "tolerance": vector["tolerance"]}
    if vector["valid"]:
        assert verify_webhook(body, vector["headers"], vector["secrets"], **arguments) == (
            json.loads(body)
        )
    else:
        with pytest.raises(WebhookVerificationError) as info:
            verify_webhook(body, vector["headers"], vector["secrets"], **arguments)
        assert type(info.value).__name__ == vector["error"]


def test_the_vectors_include_an_emoji_body_and_one_object_serialized_two_ways() -> None:
    signing = {vector["name"]: vector for vector in VECTORS["signing"]}
    compact = base64.b64decode(signing["compact-json"]["body_base64"])
    pretty = base64.b64decode(signing["pretty-escaped-json"]["body_base64"])
    assert json.loads(compact) == json.loads(pretty)
    assert compact != pretty
    assert (
        signing["compact-json"]["expected_headers"]["X-Helios-Signature"]
        != signing["pretty-escaped-json"]["expected_headers"]["X-Helios-Signature"]
    )
    assert "👤" in base64.b64decode(signing["emoji-body"]["body_base64"]).decode()


def test_the_committed_vectors_are_what_the_generator_writes() -> None:
    """The generator computes with hmac/hashlib alone; the file must not drift from it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_webhook_signatures", VECTORS_DIR / "make_webhook_signatures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == VECTORS


@pytest.mark.parametrize("container", [pytest.param(c, id=c.name) for c in CONTAINERS])
def test_the_published_verdicts_hold_whatever_container_the_headers_come_in(
    container: Container,
) -> None:
    for vector in VECTORS["verification"]:
        body = base64.b64decode(vector["body_base64"])
        headers = container.build(Wire.from_pairs(list(vector["headers"].items())))
        arguments = {"now": vector["now"], "tolerance": vector["tolerance"]}
        try:
            verify_webhook(body, headers, vector["secrets"], **arguments)  # type: ignore[arg-type]
        except WebhookVerificationError as error:
            verdict: str | None = type(error).__name__
        else:
            verdict = None
        assert (vector["name"], verdict) == (vector["name"], vector["error"])
