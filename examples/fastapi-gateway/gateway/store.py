"""The gateway's SQLite store (the standard library's sqlite3): runs, and every webhook kept once
per ``(runId, sequenceNumber)``.

One connection per app, shared by the threads that serve it (a request handler, a worker
thread, the loop of an in-process caller), so it is opened with ``check_same_thread=False`` and
used under a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    patient_ref TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS webhooks (
    run_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence_number)
);
"""
FINAL = ("completed", "error")


class Store:
    """Runs and their webhooks in one SQLite database (``":memory:"`` or a file path)."""

    def __init__(self, database: str = ":memory:") -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)

    def add_run(self, run_id: str, patient_ref: str) -> None:
        with self._lock:
            # a fast run's webhooks may have arrived before this answer: keep what they stored
            self._db.execute(
                "INSERT INTO runs (run_id, patient_ref, status) VALUES (?, ?, 'accepted') "
                "ON CONFLICT (run_id) DO UPDATE SET patient_ref = excluded.patient_ref",
                (run_id, patient_ref),
            )

    def record(self, payload: dict[str, Any], body: bytes) -> bool:
        """Keep one delivery; ``False`` when its ``(runId, sequenceNumber)`` was kept before
        (a retry, a replay or a duplicate), which then changes nothing."""
        run_id, number, status = payload["runId"], payload["sequenceNumber"], payload["status"]
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO webhooks VALUES (?, ?, ?, ?)",
                (run_id, number, status, body.decode("utf-8")),
            )
            if cursor.rowcount == 0:
                return False
            self._db.execute(  # the run, when its webhooks come before its submission's answer
                "INSERT OR IGNORE INTO runs (run_id, patient_ref, status) "
                "VALUES (?, '', 'accepted')",
                (run_id,),
            )
            if status in FINAL:
                result = payload.get("result")
                error = payload.get("error")
                self._db.execute(
                    "UPDATE runs SET status = ?, result = ?, error = ? WHERE run_id = ?",
                    (
                        status,
                        None if result is None else json.dumps(result),
                        None if error is None else json.dumps(error),
                        run_id,
                    ),
                )
            elif status == "processing":
                # a late status update never moves a finished run back
                self._db.execute(
                    "UPDATE runs SET status = 'processing' "
                    "WHERE run_id = ? AND status = 'accepted'",
                    (run_id,),
                )
            return True

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The run as the API shows it, with its steps in ``sequenceNumber`` order."""
        with self._lock:
            row = self._db.execute(
                "SELECT patient_ref, status, result, error FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            steps = self._db.execute(
                "SELECT sequence_number, status FROM webhooks WHERE run_id = ? "
                "ORDER BY sequence_number",
                (run_id,),
            ).fetchall()
        if row is None:
            return None
        patient_ref, status, result, error = row
        return {
            "runId": run_id,
            "patientRef": patient_ref,
            "status": status,
            "steps": [number for number, _ in steps],
            "result": None if result is None else json.loads(result),
            "error": None if error is None else json.loads(error),
        }

    def webhook_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM webhooks").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
