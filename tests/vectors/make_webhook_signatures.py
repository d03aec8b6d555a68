"""Regenerate webhook-signatures.json beside this file.

Run: ``python tests/vectors/make_webhook_signatures.py``.

The expected values are computed here with the standard library alone (``hmac``, ``hashlib``),
never with pytest_helios, so the vectors check our implementation instead of echoing it.
The secrets are fixed, obviously fake test values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

RUN_ID = "550e8400-e29b-41d4-a716-446655440000"
TIMESTAMP = 1705320000
SECRET = "helios-test-vector-secret-not-a-real-secret"

PAYLOAD = {
    "runId": RUN_ID,
    "status": "completed",
    "agent": "light",
    "timestamp": "2024-01-15T12:00:00.000Z",
    "sequenceNumber": 7,
    "result": {"patientResponse": "## 👤 Your Health Summary\n\nHbA1c 7.2% [1]"},
}
COMPACT = json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode()
PRETTY_ESCAPED = json.dumps(PAYLOAD, indent=2, sort_keys=True, ensure_ascii=True).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signing_vector(name: str, description: str, body: bytes, secret: str = SECRET) -> dict:
    return {
        "name": name,
        "description": description,
        "secret": secret,
        "body_base64": base64.b64encode(body).decode(),
        "timestamp": TIMESTAMP,
        "run_id": RUN_ID,
        "expected_headers": {
            "X-Helios-Signature": signature(secret, body),
            "X-Helios-Timestamp": str(TIMESTAMP),
            "X-Helios-Run-ID": RUN_ID,
            "Content-Type": "application/json",
        },
    }


def verification_vector(
    name: str,
    description: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = COMPACT,
    secrets: list[str] | None = None,
    now: int = TIMESTAMP,
    valid: bool,
    error: str | None = None,
) -> dict:
    return {
        "name": name,
        "description": description,
        "secrets": secrets or [SECRET],
        "body_base64": base64.b64encode(body).decode(),
        "headers": headers
        if headers is not None
        else {"X-Helios-Signature": signature(SECRET, body), "X-Helios-Timestamp": str(TIMESTAMP)},
        "now": now,
        "tolerance": 300,
        "valid": valid,
        "error": error,
    }


def build() -> dict:
    good = signature(SECRET, COMPACT)
    ts = str(TIMESTAMP)
    return {
        "description": (
            "Helios webhook signature test vectors. X-Helios-Signature is 'sha256=' followed by "
            "the lowercase hex HMAC-SHA256 of the raw body bytes, keyed by the UTF-8 bytes of the "
            "webhook secret. The timestamp is not signed; a receiver accepts it when "
            "abs(now - timestamp) <= tolerance. Bodies are base64 so that the exact bytes survive."
        ),
        "signing": [
            signing_vector(
                "compact-json", "a light completed payload, compact, raw UTF-8 emoji", COMPACT
            ),
            signing_vector(
                "pretty-escaped-json",
                "the same object serialized another way (indent, sorted keys, \\u escapes): "
                "different bytes, so a different signature",
                PRETTY_ESCAPED,
            ),
            signing_vector(
                "emoji-body",
                "a body of emoji, 4-byte UTF-8 sequences",
                '{"note":"👤🩺💊🧬"}'.encode(),
            ),
            signing_vector("empty-body", "zero bytes", b""),
            signing_vector(
                "non-utf8-body",
                "bytes that are not UTF-8 are signed all the same",
                b'{"note":"\xff\xfe"}',
            ),
            signing_vector(
                "non-ascii-secret",
                "the key is the secret's UTF-8 bytes",
                COMPACT,
                secret="sécret-ünïcode-🔑-not-a-real-secret",
            ),
            signing_vector(
                "long-secret",
                "a key longer than the 64-byte HMAC block",
                COMPACT,
                secret="long-secret-" + "0123456789" * 10,
            ),
        ],
        "verification": [
            verification_vector("valid", "signed body, timestamp equal to now", valid=True),
            verification_vector(
                "past-boundary",
                "now = timestamp + 300 (inclusive)",
                now=TIMESTAMP + 300,
                valid=True,
            ),
            verification_vector(
                "future-boundary",
                "now = timestamp - 300 (inclusive)",
                now=TIMESTAMP - 300,
                valid=True,
            ),
            verification_vector(
                "stale",
                "now = timestamp + 301",
                now=TIMESTAMP + 301,
                valid=False,
                error="TimestampOutOfTolerance",
            ),
            verification_vector(
                "future",
                "now = timestamp - 301",
                now=TIMESTAMP - 301,
                valid=False,
                error="TimestampOutOfTolerance",
            ),
            verification_vector(
                "lowercase-header-names",
                "header names match case-insensitively",
                headers={"x-helios-signature": good, "x-helios-timestamp": ts},
                valid=True,
            ),
            verification_vector(
                "rotation",
                "any one of several secrets, in any order",
                secrets=["old-secret-not-a-real-secret", SECRET],
                valid=True,
            ),
            verification_vector(
                "reserialized-body",
                "the pretty body with the compact body's signature",
                body=PRETTY_ESCAPED,
                valid=False,
                error="SignatureMismatch",
                headers={"X-Helios-Signature": good, "X-Helios-Timestamp": ts},
            ),
            verification_vector(
                "wrong-secret",
                "signed with another secret",
                secrets=["another-secret-not-a-real-secret"],
                valid=False,
                error="SignatureMismatch",
            ),
            verification_vector(
                "uppercase-hex",
                "the digest in uppercase hex is malformed",
                headers={
                    "X-Helios-Signature": "sha256=" + good[7:].upper(),
                    "X-Helios-Timestamp": ts,
                },
                valid=False,
                error="MalformedHeader",
            ),
            verification_vector(
                "uppercase-prefix",
                "'SHA256=' is malformed",
                headers={"X-Helios-Signature": "SHA256=" + good[7:], "X-Helios-Timestamp": ts},
                valid=False,
                error="MalformedHeader",
            ),
            verification_vector(
                "no-prefix",
                "the bare digest is malformed",
                headers={"X-Helios-Signature": good[7:], "X-Helios-Timestamp": ts},
                valid=False,
                error="MalformedHeader",
            ),
            verification_vector(
                "missing-timestamp",
                "no X-Helios-Timestamp",
                headers={"X-Helios-Signature": good},
                valid=False,
                error="MissingHeader",
            ),
            verification_vector(
                "millisecond-timestamp",
                "milliseconds instead of seconds",
                headers={"X-Helios-Signature": good, "X-Helios-Timestamp": ts + "000"},
                valid=False,
                error="TimestampOutOfTolerance",
            ),
        ],
    }


if __name__ == "__main__":
    target = Path(__file__).with_name("webhook-signatures.json")
    target.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target.name}")
