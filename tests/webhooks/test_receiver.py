"""helios_webhook_receiver's endpoint against hostile requests sent over a raw socket."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import pytest

from pytest_helios import sign_webhook
from pytest_helios.webhooks import ReceivedWebhook, WebhookReceiver

SECRET = "whsec_" + secrets.token_hex(16)
RUN_ID = "550e8400-e29b-41d4-a716-446655440000"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as r:
        yield r


def send_raw(receiver: WebhookReceiver, head: str, body: bytes = b"") -> bytes:
    port = int(receiver.url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def signed_request(extra_headers: str = "") -> tuple[str, bytes]:
    body = b'{"runId": "' + RUN_ID.encode() + b'", "status": "processing", "sequenceNumber": 1}'
    import time

    headers = sign_webhook(body, SECRET, timestamp=int(time.time()), run_id=RUN_ID)
    lines = [f"{k}: {v}" for k, v in headers.items()]
    head = (
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + extra_headers
        + "\r\n".join(lines)
        + f"\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head, body


def test_a_correctly_signed_delivery_is_answered_200(receiver: WebhookReceiver) -> None:
    head, body = signed_request()
    status_line = send_raw(receiver, head, body).split(b"\r\n")[0]
    assert status_line.endswith(b"200 OK")
    (received,) = receiver.deliveries
    assert isinstance(received, ReceivedWebhook)
    assert (received.answered, received.verified, received.body) == (200, True, body)


def test_a_second_signature_header_is_refused_even_when_one_is_valid(
    receiver: WebhookReceiver,
) -> None:
    head, body = signed_request("X-Helios-Signature: sha256=" + "0" * 64 + "\r\n")
    answer = send_raw(receiver, head, body)
    assert b" 400 " in answer.split(b"\r\n")[0]
    (rejected,) = receiver.rejected
    assert rejected.rejection is not None
    assert rejected.rejection.startswith("MalformedHeader: ")


@pytest.mark.parametrize("length", ["abc", "-1", "1, 2"])
def test_an_unreadable_content_length_is_answered_400_not_a_crash(
    receiver: WebhookReceiver, length: str
) -> None:
    answer = send_raw(
        receiver, f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
    )
    assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request")
    assert b"invalid Content-Length" in answer
    assert receiver.deliveries == []


def accepted_socket(peer: tuple[str, int]) -> socket.socket:
    """The server side of the connection whose client end is ``peer`` (same process)."""
    import gc

    for candidate in gc.get_objects():
        if isinstance(candidate, socket.socket) and candidate.fileno() != -1:
            try:
                if candidate.getpeername() == peer:
                    return candidate
            except OSError:
                continue  # a listening or closed socket
    raise AssertionError(f"no accepted connection from {peer}")


def test_the_receiver_answers_on_sockets_with_nagles_algorithm_off(
    receiver: WebhookReceiver,
) -> None:
    """Two sends per answer with Nagle on wait ~40 ms each for a delayed ACK: TCP_NODELAY."""
    head, body = signed_request()
    port = int(receiver.url.split(":")[2].split("/")[0])
    keep_alive = head.replace("Connection: close\r\n", "")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(keep_alive.encode("latin-1") + body)
        assert client.recv(65536).startswith(b"HTTP/1.1 200")
        server_end = accepted_socket(client.getsockname()[:2])
        assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_async_test_awaits_the_final_webhook_without_blocking_its_event_loop(
    receiver: WebhookReceiver, backend: str
) -> None:
    """While the wait is pending, the test's own event loop keeps running other tasks."""
    import anyio

    pytest.importorskip(backend)
    final = b'{"runId": "' + RUN_ID.encode() + b'", "status": "completed", "sequenceNumber": 8}'
    ticks: list[int] = []

    async def main() -> dict[str, object]:
        async def tick_then_deliver() -> None:
            for n in range(3):  # these run only if the loop is not blocked by the wait
                ticks.append(n)
                await anyio.sleep(0)
            import time

            headers = sign_webhook(final, SECRET, timestamp=int(time.time()), run_id=RUN_ID)
            await anyio.to_thread.run_sync(_post, receiver.url, final, headers)

        async with anyio.create_task_group() as group:
            group.start_soon(tick_then_deliver)
            payload = await receiver.wait_for_final_async(RUN_ID, timeout=30)
        return payload

    payload = anyio.run(main, backend=backend)
    assert payload["status"] == "completed"
    assert ticks == [0, 1, 2]


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    import httpx

    assert httpx.post(url, content=body, headers=headers).status_code == 200
