"""The portal's storage (SQLite): submissions, and every webhook event once.

A webhook is stored under its ``(runId, sequenceNumber)`` primary key, so a retried or
replayed delivery changes nothing, and a run's events are read back ordered by
``sequenceNumber``, whatever order the network delivered them in.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

FINAL = ("completed", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    run_id TEXT PRIMARY KEY,
    patient_ref TEXT NOT NULL,
    lab_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence_number)
);
"""


@dataclass(frozen=True)
class Submission:
    """What the portal knows about one run: its events in order, and the outcome if any."""

    run_id: str
    patient_ref: str
    lab_count: int
    events: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events) if e["status"] in FINAL), None)

    @property
    def status(self) -> str:
        final = self.final
        if final is not None:
            return str(final["status"])
        return "processing" if self.events else "submitted"

    def as_json(self) -> dict[str, Any]:
        final = self.final
        return {
            "runId": self.run_id,
            "patientRef": self.patient_ref,
            "labCount": self.lab_count,
            "status": self.status,
            "steps": [e.get("stepName") for e in self.events if e["status"] == "processing"],
            "result": None if final is None else final.get("result"),
            "error": None if final is None else final.get("error"),
        }


class Store:
    """A thread-safe SQLite store (the WSGI server answers on several threads)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_submission(self, run_id: str, patient_ref: str, lab_count: int) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO submissions VALUES (?, ?, ?)",
                (run_id, patient_ref, lab_count),
            )

    def add_event(self, payload: dict[str, Any]) -> bool:
        """Store a verified webhook payload once; False if this (runId, sequenceNumber) was
        already stored (a retry or a replay)."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)",
                (
                    payload["runId"],
                    payload["sequenceNumber"],
                    payload["status"],
                    json.dumps(payload, sort_keys=True),
                ),
            )
        return cursor.rowcount == 1

    def submission(self, run_id: str) -> Submission | None:
        with self._lock:
            row = self._db.execute(
                "SELECT patient_ref, lab_count FROM submissions WHERE run_id = ?", (run_id,)
            ).fetchone()
            events = self._db.execute(
                "SELECT payload FROM events WHERE run_id = ? ORDER BY sequence_number",
                (run_id,),
            ).fetchall()
        if row is None:
            return None
        return Submission(run_id, row[0], row[1], [json.loads(row[0]) for row in events])

    def event_keys(self) -> list[tuple[str, int]]:
        """Every stored ``(runId, sequenceNumber)``: what the portal has processed."""
        with self._lock:
            rows = self._db.execute("SELECT run_id, sequence_number FROM events").fetchall()
        return [(str(run_id), int(number)) for run_id, number in rows]
