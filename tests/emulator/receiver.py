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


class BlackHole:
    """A loopback port that accepts every connection and never answers (``url`` to post to)."""

    def __init__(self) -> None:
        import socket

        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.05)
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="test-black-hole")
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/webhook"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._held.append(conn)

    @property
    def held(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return len(self._held)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()
