"""Closing helios_webhook_receiver ends its keep-alive connections, so the emulator's delivery
client sees them closed at once and no handler thread is left waiting."""

from __future__ import annotations

import secrets
import socket
import time

from pytest_helios import sign_webhook
from pytest_helios.webhooks import WebhookReceiver

SECRET = "whsec_" + secrets.token_hex(24)
RUN_ID = "550e8400-e29b-41d4-a716-446655440000"


def test_closing_the_receiver_ends_an_idle_keep_alive_connection() -> None:
    body = b'{"runId": "' + RUN_ID.encode() + b'", "status": "processing", "sequenceNumber": 1}'
    headers = sign_webhook(body, SECRET, timestamp=int(time.time()), run_id=RUN_ID)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with WebhookReceiver(SECRET) as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        sender = socket.create_connection(("127.0.0.1", port), timeout=5)
        request = (
            f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"{head}\r\n"
        )
        sender.sendall(request.encode("latin-1") + body)
        answer = b""
        while not answer.endswith(b"\r\n\r\nok"):  # the headers and body may come apart
            chunk = sender.recv(65536)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
    with sender:
        assert sender.recv(65536) == b""  # the end of the connection, not a timeout
