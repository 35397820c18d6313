"""Baselines served by the same uvicorn with the same settings as the gateway.

``app``: a bare ASGI app answering 200. ``app_with_headers``: the same, answering with exactly
the response headers the gateway sends for a signed-in user (read from the JSON file named by
``BENCH_HEADERS_FILE``), which separates the cost of emitting identity headers from the
gateway's own work.
"""

from __future__ import annotations

import json
import os
from typing import Any

_FILE = os.environ.get("BENCH_HEADERS_FILE")
HEADERS: list[tuple[bytes, bytes]] = (
    [(n.encode("latin-1"), v.encode("latin-1")) for n, v in json.load(open(_FILE))] if _FILE else []  # noqa: SIM115
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def app_with_headers(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b""})
