"""A WebSocket echo app (the ``websockets`` library, as a subprocess) and a client for ``*.test`` hosts.

The app stands for Home Assistant, Grafana Live or code-server behind a proxy: its first message
on a new connection is what it received in the handshake (path and headers, as JSON, so a test sees
the identity headers the proxy added); after that it echoes every message back. A plain GET (the
page the sign-in returns to) gets a 200.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.procs import Proc, free_port
from tests.support.servers import PY

WS_ECHO_APP = r"""
import asyncio, json, sys
from websockets.asyncio.server import serve

def plain_http(connection, request):
    # A page load (the sign-in lands here): a plain 200, so a test browser can finish signing in.
    if "upgrade" not in request.headers.get("Connection", "").lower():
        return connection.respond(200, json.dumps({"path": request.path}) + "\n")
    return None

async def echo(ws):
    request = ws.request
    await ws.send(json.dumps({"path": request.path, "headers": [[k, v] for k, v in request.headers.raw_items()]}))
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), process_request=plain_http) as server:
        await server.serve_forever()

asyncio.run(main())
"""

#: What a browser sends with ``new WebSocket(...)`` besides the handshake's own headers.
BROWSER_WS = {"Sec-Fetch-Mode": "websocket", "Sec-Fetch-Dest": "websocket", "User-Agent": "authgate-tests"}


def start_ws_echo(tmp: Path) -> tuple[Proc, int]:
    port = free_port()
    script = tmp / "ws_echo_app.py"
    script.write_text(WS_ECHO_APP)
    return Proc(f"ws-echo-{port}", [PY, str(script), str(port)], log_dir=tmp).start().wait_port(port), port


def ws_connect(url: str, headers: dict[str, str] | None = None) -> ClientConnection:
    """Open ``ws://<name>.test:<port>/...`` on 127.0.0.1 (the URL's host in Host and Origin)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection(("127.0.0.1", parts.port), timeout=10)
    extra = {**BROWSER_WS, "Origin": f"http://{parts.netloc}", **(headers or {})}
    return connect(url, sock=sock, additional_headers=extra, open_timeout=10, close_timeout=2)


def handshake_status(url: str, headers: dict[str, str] | None = None) -> int:
    """The handshake's status: 101 when the connection opened, else the refusal's (401 ...)."""
    try:
        ws_connect(url, headers).close()
    except InvalidStatus as exc:
        return exc.response.status_code
    return 101


def echo_round_trip(conn: ClientConnection, message: str) -> tuple[dict[str, str], str]:
    """The app's view of the handshake (headers, lower-cased names) and the echo of ``message``."""
    hello = json.loads(conn.recv(timeout=10))
    conn.send(message)
    return {n.lower(): v for n, v in hello["headers"]}, str(conn.recv(timeout=10))
