"""``helios trigger`` against a receiver written in Node, verifying with ``node:crypto``.

The receiver is what a Node team writes from the documentation: it reads the raw body,
computes ``sha256=`` + the hex HMAC-SHA256 of it with ``crypto.createHmac`` and compares it
with ``X-Helios-Signature`` in constant time, answering 200 or 400.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import SECRET, helios

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (no `node`)")

RECEIVER = """\
const http = require('node:http');
const crypto = require('node:crypto');

const secret = process.env.HELIOS_WEBHOOK_SECRET;

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    const expected = Buffer.from(
      'sha256=' + crypto.createHmac('sha256', secret).update(body).digest('hex'));
    const given = Buffer.from(request.headers['x-helios-signature'] || '');
    const verified = given.length === expected.length && crypto.timingSafeEqual(given, expected);
    response.writeHead(verified ? 200 : 400, { 'Content-Type': 'text/plain' });
    response.end(verified ? 'verified by node' : 'bad signature');
  });
});

server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
"""


@pytest.fixture
def node_receiver(tmp_path: Path) -> Iterator[str]:
    """The URL of the Node receiver, started on a free loopback port."""
    script = tmp_path / "receiver.js"
    script.write_text(RECEIVER, encoding="utf-8")
    process = subprocess.Popen(
        [str(NODE), str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"HELIOS_WEBHOOK_SECRET": SECRET, "PATH": ""},
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else port
        yield f"http://127.0.0.1:{port}/webhooks/helios"
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_a_node_receiver_accepts_a_genuine_trigger_and_refuses_a_bad_variant(
    node_receiver: str,
) -> None:
    env = {"HELIOS_WEBHOOK_SECRET": SECRET}
    genuine = helios("trigger", "lab-results-completed", "--to", node_receiver, env=env)
    assert genuine.status == 0, genuine.err
    assert genuine.out.splitlines()[-1].endswith(": 200 verified by node (as expected)")

    tampered = helios("trigger", "lab-results-completed", "--variant", "tampered-body",
                      "--to", node_receiver, env=env)  # fmt: skip
    assert tampered.status == 0, tampered.err
    assert tampered.out.splitlines()[-1].endswith(": 400 bad signature (as expected)")

    wrong_secret = helios("trigger", "lab-results-completed", "--variant", "wrong-secret",
                          "--to", node_receiver, env=env)  # fmt: skip
    assert wrong_secret.out.splitlines()[-1].endswith(": 400 bad signature (as expected)")
