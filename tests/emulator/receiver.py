"""A real webhook receiver on a loopback port, for the emulator's delivery tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.loopback import LoopbackServer, QuietHandler


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every POST; answers 200 unless told otherwise for a sequence number."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: dict[int, list[int]] = {}
        self.delay = 0.0
        self._lock = threading.Lock()
        self.url = ""

    def answer(self, sequence_number: int, *statuses: int) -> None:
        """Answer the next deliveries of ``sequence_number`` with these statuses, in order."""
        with self._lock:
            self.statuses.setdefault(sequence_number, []).extend(statuses)

    def _next_status(self, body: bytes) -> int:
        try:
            sequence = json.loads(body).get("sequenceNumber")
        except ValueError:
            sequence = None
        with self._lock:
            queued = self.statuses.get(sequence, [])
            return queued.pop(0) if queued else 200

    def _record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:
            body = self.body()
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver._next_status(body)
            receiver._record(Received(self.path, dict(self.headers.items()), body))
            self.reply(status)

    with LoopbackServer(Handler) as server:
        receiver.url = f"{server.url}/webhook"
        yield receiver
