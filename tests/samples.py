"""The documented sample requests, one copy for every test (``shared/helios-api.md`` §2.2, §2.3).

Each builder returns a fresh ``dict``, so a test may change its copy.
"""

from __future__ import annotations

from typing import Any

#: Nothing listens on port 9 (discard) of loopback: a run started with it delivers nowhere.
NOWHERE = "http://127.0.0.1:9/webhook"

#: The lab of the Lab Results Agent's documented example.
LAB: dict[str, str] = {
    "name": "Creatinine",
    "value": "1.8 mg/dL",
    "flag": "High",
    "referenceRange": "0.7-1.3 mg/dL",
    "date": "2025-01-15",
    "category": "Renal",
}

#: The EHR Agent's documented ``data`` example.
EHR_DATA: dict[str, Any] = {
    "patientInfo": {"age": 45, "gender": "male"},
    "recentAbnormalLabs": [
        {
            "date": "2025-01-15",
            "display": "Hemoglobin A1c",
            "value": "7.2",
            "unit": "%",
            "referenceRange": "4.0-5.6",
            "interpretation": "High",
        }
    ],
}


def lab_request(webhook_url: str = NOWHERE, **fields: Any) -> dict[str, Any]:
    """A ``POST /api/v1/lab-results`` body with the documented lab; ``fields`` add or replace."""
    return {"webhookUrl": webhook_url, "labResults": [dict(LAB)], **fields}


def agent_request(
    agent_type: str = "light", webhook_url: str = NOWHERE, **fields: Any
) -> dict[str, Any]:
    """A ``POST /api/v1/agent`` body with the documented EHR data; ``fields`` add or replace."""
    import copy

    return {
        "webhookUrl": webhook_url,
        "agentType": agent_type,
        "data": copy.deepcopy(EHR_DATA),
        **fields,
    }
