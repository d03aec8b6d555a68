"""Analysis runs: what was accepted, where it stands, and when it ends."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .state import utcnow


@dataclass
class Run:
    """One accepted request. ``status`` goes accepted → processing → completed | error."""

    id: str
    account_id: str
    agent: str
    webhook_url: str
    request: dict[str, Any]
    accepted_at: datetime = field(default_factory=utcnow)
    status: str = "accepted"
    finished_at: datetime | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.agent} {self.status}>"
