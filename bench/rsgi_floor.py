"""granian's floor, for bench/granian_probe.py: an RSGI app answering every request at once with
the gateway's response headers (``BENCH_HEADERS_FILE``) after reading its Cookie, no decision."""

from __future__ import annotations

import json
import os
from typing import Any

_FILE = os.environ.get("BENCH_HEADERS_FILE")
HEADERS: list[tuple[str, str]] = [tuple(h) for h in json.load(open(_FILE))] if _FILE else []  # type: ignore[misc]  # noqa: SIM115


async def app(scope: Any, protocol: Any) -> None:
    scope.headers.get("cookie")
    protocol.response_empty(200, HEADERS)
