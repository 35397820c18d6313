"""Baselines served by the same uvicorn with the same settings as the gateway.

``app``: a bare ASGI app answering 200. ``app_with_headers``: the same, answering with exactly
the response headers the gateway sends for a signed-in user (read from the JSON file named by
``BENCH_HEADERS_FILE``), which separates the cost of emitting identity headers from the
gateway's own work. ``app_floor``: those headers again, through the wire door with no decision
(bench/wire_floor.py runs it): the least a request through authgate's protocol costs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from authgate.web.raw import Reply

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


# Reply adds its own framing and cache-control; the file holds the whole answer as sent.
_FLOOR = Reply(200, [(n, v) for n, v in HEADERS if n.lower() not in (b"content-length", b"cache-control")])


def _floor_answer(target: bytes, headers: dict[str, str], peer: str | None, scheme: str) -> Reply:
    return _FLOOR


async def app_floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The wire door's floor: served by authgate/web/wire.py, every request answered at once with
    the gateway's response headers and no decision at all (``python -m bench.wire_floor``)."""
    await app_with_headers(scope, receive, send)


app_floor.quick = _floor_answer  # type: ignore[attr-defined]
