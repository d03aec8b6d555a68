"""Shared set-up of the project's own tests.

pytester's in-process runs unload every module that a run imported, so each run would import
the emulator's server stack and the validators afresh. Importing them once here keeps them out
of that churn. (The plugin's promise to import none of this by itself is tested in a fresh
interpreter, in test_no_side_effects.py.)
"""

from __future__ import annotations

import httpcore  # noqa: F401  (httpx imports it lazily)
import httpx  # noqa: F401
import hypothesis.internal.observability  # noqa: F401  (hypothesis's plugin imports it per run)
import jsonschema_rs  # noqa: F401
import starlette.applications  # noqa: F401
import uvicorn  # noqa: F401
