"""Interim request schemas, used only until ``pytest_helios.validation`` ships ``schemas/``.

Delete this module once the schemas branch is merged.
"""

from __future__ import annotations

from typing import Any

_LAB = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "value": {"type": "string"},
        "flag": {"type": "string"},
        "referenceRange": {"type": "string"},
        "date": {"type": "string"},
        "unit": {"type": "string"},
        "category": {"type": "string"},
        "notes": {"type": "string"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "agent-request": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["webhookUrl", "agentType", "data"],
        "properties": {
            "webhookUrl": {"type": "string", "format": "uri"},
            "agentType": {"enum": ["light", "deep"]},
            "data": {
                "type": "object",
                "properties": {
                    "patientInfo": {
                        "type": "object",
                        "properties": {"age": {"type": "number"}, "gender": {"type": "string"}},
                    },
                    "recentAbnormalLabs": {"type": "array", "items": {"type": "object"}},
                    "recentNormalLabs": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
    "lab-results-request": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["webhookUrl", "labResults"],
        "properties": {
            "webhookUrl": {"type": "string", "format": "uri"},
            "labResults": {"type": "array", "minItems": 1, "items": _LAB},
            "patientContext": {"type": "object"},
        },
    },
}


def load_schema(name: str) -> dict[str, Any]:
    return SCHEMAS[name]
