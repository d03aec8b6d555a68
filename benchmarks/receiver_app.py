"""A webhook receiver for the delivery benchmark: Starlette + uvicorn, counts what arrives.

python benchmarks/receiver_app.py   # prints its port; GET /count -> {"total", "unique"}
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

seen: set[tuple[str, int]] = set()
total = 0


async def webhook(request: Request) -> Response:
    global total
    payload = json.loads(await request.body())
    seen.add((payload["runId"], payload["sequenceNumber"]))
    total += 1
    return Response(status_code=200)


async def count(request: Request) -> JSONResponse:
    return JSONResponse({"total": total, "unique": len(seen)})


app = Starlette(
    routes=[Route("/webhook", webhook, methods=["POST"]), Route("/count", count, methods=["GET"])]
)

if __name__ == "__main__":
    from _serve import serve

    serve(app)
