"""Back-channel logout tokens from a real IdP (the node oidc-provider): a captured token cannot be
replayed (its jti is remembered in Redis, which every replica shares). Malformed and mistyped
tokens are in tests/unit/test_oidc_hardening.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie
from tests.support.node_idp import follow_idp, start_node_idp
from tests.support.procs import free_port
from tests.support.servers import Redis, gateway_env, start_gateway

CLIENT_ID = "authgate-test"
CLIENT_SECRET = "client-secret-for-tests"


@pytest.fixture
def captured() -> Iterator[tuple[int, list[str]]]:
    """A stand-in back-channel endpoint that keeps every logout token the IdP sends."""
    port, tokens = free_port(), []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            tokens.extend(parse_qs(body).get("logout_token", []))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port, tokens
    server.shutdown()
    server.server_close()


def test_a_captured_logout_token_cannot_be_replayed(
    tmp_path: Path, redis_server: Redis, captured: tuple[int, list[str]]
) -> None:
    gw_port, (capture_port, tokens) = free_port(), captured
    origin = f"http://app.test:{gw_port}"
    idp = start_node_idp(
        tmp_path,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{origin}{PREFIX}/callback"],
        backchannel_logout_uri=f"http://127.0.0.1:{capture_port}{PREFIX}/backchannel_logout",
    )
    gateway = start_gateway(tmp_path, gateway_env(idp.issuer, redis_url=redis_server.url), port=gw_port)
    try:
        with Browser() as b:
            start = b.get(f"{origin}{PREFIX}/start?rd={origin}/")
            leaving = follow_idp(b.http, b.get(start.headers["location"]), idp)
            assert b.get(leaving.headers["location"]).status_code == 302  # the callback
            cookie = session_cookie(b)

        def signed_in() -> bool:
            check = httpx.get(
                f"{gateway.url}{PREFIX}/auth/nginx",
                headers={"X-Original-URL": f"{origin}/", "X-Original-Method": "GET", "Cookie": cookie},
            )
            return check.status_code == 200

        assert signed_in()
        assert idp.backchannel_logout(sub="alice", keep=True)["matched"] == 1
        (token,) = tokens
        url = f"{gateway.url}{PREFIX}/backchannel_logout"
        first = httpx.post(url, data={"logout_token": token})
        assert first.status_code == 200
        assert not signed_in()
        replay = httpx.post(url, data={"logout_token": token})
        assert replay.status_code == 400
        assert "already used" in replay.json()["error_description"]
    finally:
        gateway.proc.stop()
        idp.stop()
