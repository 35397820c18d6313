"""Serve ``bench.bare_app:app_floor`` through the wire door (authgate/web/wire.py), with the
gateway's uvicorn options: ``python -m bench.wire_floor PORT``."""

from __future__ import annotations

import sys

import uvicorn

from bench.bare_app import app_floor

if __name__ == "__main__":
    uvicorn.run(
        app_floor,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="authgate.web.wire:WireProtocol",
        ws="none",
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
