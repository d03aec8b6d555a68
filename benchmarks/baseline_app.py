"""The benchmark's baseline: a minimal Starlette + uvicorn app that does only what the emulator's
accept path must do at least: look up a hashed x-api-key in constant time, parse the JSON body,
validate it against the same request schema, and answer 200 with a fresh runId.

    HELIOS_BENCH_KEY=sk_live_... python benchmarks/baseline_app.py   # prints its port, serves
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid

import jsonschema_rs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_helios.payloads import load_schema

KEYS = {hashlib.sha256(os.environ["HELIOS_BENCH_KEY"].encode()).digest()}
VALIDATOR = jsonschema_rs.Draft202012Validator(load_schema("agent-request"), validate_formats=True)


async def agent(request: Request) -> JSONResponse:
    presented = request.headers.get("x-api-key", "")
    digest = hashlib.sha256(presented.encode()).digest()
    if not any(hmac.compare_digest(digest, known) for known in KEYS):
        return JSONResponse({"error": "Unauthorized", "message": "Invalid API key"}, 401)
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "Validation Error", "message": "not JSON"}, 400)
    if not VALIDATOR.is_valid(body):
        return JSONResponse({"error": "Validation Error", "message": "invalid"}, 400)
    return JSONResponse({"runId": str(uuid.uuid4()), "status": "accepted"})


app = Starlette(routes=[Route("/api/v1/agent", agent, methods=["POST"])])

if __name__ == "__main__":
    from _serve import serve

    serve(app)
