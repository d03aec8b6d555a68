"""The schema layer: validation against ``schemas/``, payload builders and Hypothesis strategies.

The public names, imported on first use so that importing this package stays cheap (no
jsonschema-rs, no Hypothesis until a name needs it):

- validation (``validation``): `validate` (also at the top level), `SCHEMA_NAMES`,
  `load_schema` (a self-contained schema for any 2020-12 validator) and `schema_directory`;
- builders of valid payloads (``builders``), the ones the emulator and ``fake_webhook`` send:
  `accepted_response`, `validation_error`, `unauthorized_error`, `rate_limit_error`,
  `status_update`, `status_updates`, `ehr_completed`, `lab_results_completed`,
  `error_webhook`, and the agents' `STEP_NAMES` and `FINAL_SEQUENCE_NUMBER`;
- `strategies`: Hypothesis strategies of every payload (also ``pytest_helios.strategies``);
- the OpenAPI 3.1 document of the API, generated from the schemas (``openapi``):
  `openapi_document`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_helios import _lazy_exports

if TYPE_CHECKING:
    from pytest_helios.payloads import strategies
    from pytest_helios.payloads.builders import (
        FINAL_SEQUENCE_NUMBER,
        STEP_NAMES,
        accepted_response,
        ehr_completed,
        error_webhook,
        lab_results_completed,
        rate_limit_error,
        status_update,
        status_updates,
        unauthorized_error,
        validation_error,
    )
    from pytest_helios.payloads.openapi import openapi_document
    from pytest_helios.payloads.validation import (
        SCHEMA_NAMES,
        load_schema,
        schema_directory,
        validate,
    )

__all__ = [
    "FINAL_SEQUENCE_NUMBER",
    "SCHEMA_NAMES",
    "STEP_NAMES",
    "accepted_response",
    "ehr_completed",
    "error_webhook",
    "lab_results_completed",
    "load_schema",
    "openapi_document",
    "rate_limit_error",
    "schema_directory",
    "status_update",
    "status_updates",
    "strategies",
    "unauthorized_error",
    "validate",
    "validation_error",
]

_HOMES: dict[str, str] = {
    **dict.fromkeys(
        ("SCHEMA_NAMES", "load_schema", "schema_directory", "validate"),
        "pytest_helios.payloads.validation",
    ),
    **dict.fromkeys(
        (
            "FINAL_SEQUENCE_NUMBER",
            "STEP_NAMES",
            "accepted_response",
            "ehr_completed",
            "error_webhook",
            "lab_results_completed",
            "rate_limit_error",
            "status_update",
            "status_updates",
            "unauthorized_error",
            "validation_error",
        ),
        "pytest_helios.payloads.builders",
    ),
    "strategies": "pytest_helios.payloads.strategies",
    "openapi_document": "pytest_helios.payloads.openapi",
}

if not TYPE_CHECKING:  # type checkers read the imports above, and reject any other name
    __getattr__, __dir__ = _lazy_exports(__name__, _HOMES, __all__)
