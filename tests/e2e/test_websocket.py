"""WebSockets through every recipe: two authgate replicas on one Redis, a WebSocket echo app
(tests/support/websocket.py) behind real nginx (the NPM snippet), Traefik and Caddy.

The auth check runs once per handshake, as with every forward-auth gateway: not signed in, the
handshake is refused with 401 (a WebSocket cannot follow a redirect); signed in, it opens and the
app sees the identity headers; signed out (on either replica), no new connection opens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.cluster import Cluster, replicas_behind_nginx
from tests.support.flows import PREFIX, session_cookie
from tests.support.procs import free_port, require_binary, wait_for
from tests.support.servers import (
    IdP,
    gateway_env,
    nginx_server,
    render_auth_host,
    start_gateway,
    start_redis,
    traefik_server,
)
from tests.support.websocket import echo_round_trip, handshake_status, start_ws_echo, ws_connect

pytestmark = pytest.mark.e2e

PROXIES = ["nginx", "traefik", "caddy"]


@dataclass
class World:
    cluster: Cluster
    traefik: int
    caddy: int

    def port(self, proxy: str) -> int:
        return {"nginx": self.cluster.app_port, "traefik": self.traefik, "caddy": self.caddy}[proxy]


@pytest.fixture(scope="module")
def world(module_tmp: Path, idp: IdP) -> Iterator[World]:
    redis = start_redis(module_tmp, "ws-redis")
    env = gateway_env(idp.issuer, redis_url=redis.url)
    app, app_port = start_ws_echo(module_tmp)
    try:
        # nginx: the NPM snippet with an upstream of both replicas, and a plain balancer for Traefik.
        with replicas_behind_nginx(module_tmp, env, echo_port=app_port, count=2) as cluster:
            # Caddy asks both replicas itself (two upstreams), straight, with the handshake's Upgrade.
            direct = " ".join(g.url for g in cluster.replicas)
            balancer = f"http://127.0.0.1:{cluster.lb_port}"
            with (
                traefik_server(module_tmp, gateway_url=balancer, app_port=app_port) as traefik,
                caddy_server(module_tmp, gateway_url=direct, app_port=app_port) as caddy,
            ):
                wait_for(lambda: _routed(traefik), what="Traefik's routers")
                yield World(cluster, traefik, caddy)
    finally:
        app.stop()
        redis.proc.stop()


def _routed(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"app.test:{port}"}).status_code != 404


def refusal(url: str, headers: dict[str, str] | None = None) -> httpx.Headers:
    """The headers of a refused handshake; fails when it opened or was refused with anything but 401."""
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url, headers).close()
    response = refused.value.response
    assert response.status_code == 401, response.status_code
    return httpx.Headers(list(response.headers.raw_items()))


def signed_in(origin: str) -> str:
    with Browser() as b:
        assert b.visit(f"{origin}/").status_code == 200
        return session_cookie(b)


# What a client may send with its handshake: none of it may turn the 401 into a redirect.
NOT_SIGNED_IN = [
    ({}, "a browser's new WebSocket(): Sec-Fetch-Mode and -Dest websocket, no Accept"),
    ({"Accept": "text/html"}, "a client that asks for a page"),
    ({"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, "navigation's headers"),
    ({"Cookie": "authgate_session=forged.value.sig"}, "a forged session cookie"),
    ({"X-authentik-username": "root", "X-authentik-groups": "admins"}, "forged identity headers"),
]


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(("headers", "what"), NOT_SIGNED_IN)
def test_a_handshake_that_is_not_signed_in_gets_401(
    world: World, proxy: str, headers: dict[str, str], what: str
) -> None:
    got = refusal(f"ws://app.test:{world.port(proxy)}/api/websocket", headers)
    assert "location" not in got, what
    assert "set-cookie" not in got, what


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_signed_in_handshake_opens_and_exchanges_messages(world: World, proxy: str) -> None:
    port = world.port(proxy)
    cookie = signed_in(f"http://app.test:{port}")
    forged = {"X-authentik-username": "root", "X-authentik-groups": "admins"}
    with ws_connect(f"ws://app.test:{port}/api/websocket", {"Cookie": f"{cookie}; theme=dark", **forged}) as conn:
        seen, echoed = echo_round_trip(conn, "ping 1")
        assert echoed == "ping 1"
        for i in range(2, 6):
            conn.send(f"ping {i}")
            assert conn.recv(timeout=10) == f"ping {i}"
    assert seen["x-authentik-username"] == "alice", "the app sees who opened the socket"
    assert seen["x-authentik-groups"] == "admins|staff", "forged identity headers are replaced"
    assert seen["upgrade"].lower() == "websocket"
    assert seen.get("cookie") == "theme=dark", "the app never sees authgate's cookie"


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_session_signed_out_on_another_replica_opens_no_new_connection(world: World, proxy: str) -> None:
    port = world.port(proxy)
    url = f"ws://app.test:{port}/api/websocket"
    cookie = signed_in(f"http://app.test:{port}")
    # Open twice: with round robin both replicas have now answered (and cached) this session.
    with ws_connect(url, {"Cookie": cookie}) as first:
        assert echo_round_trip(first, "before")[1] == "before"
        with ws_connect(url, {"Cookie": cookie}) as second:
            assert echo_round_trip(second, "again")[1] == "again"
        # Sign out on one replica directly: the other learns it through the store's invalidations.
        other = world.cluster.replicas[1]
        r = httpx.get(
            f"{other.url}{PREFIX}/sign_out",
            headers={"Host": f"app.test:{port}", "Cookie": cookie, "Accept": "text/html"},
        )
        assert r.status_code in (200, 302), r.status_code

        def every_replica_refuses() -> bool:
            return all(handshake_status(url, {"Cookie": cookie}) == 401 for _ in range(4))

        wait_for(every_replica_refuses, timeout=10, what="the sign-out to reach every replica")
        for _ in range(6):
            refusal(url, {"Cookie": cookie})
        # A connection opened before the sign-out stays open: the check runs once per handshake.
        first.send("still here")
        assert first.recv(timeout=10) == "still here"


def test_websockets_through_the_domain_level_nginx_snippet(tmp_path: Path, idp: IdP) -> None:
    """deploy/nginx/npm-advanced-domain.conf: 401 for a handshake that is not signed in (not the
    redirect to the auth host), and one sign-in opens sockets on every app of the domain."""
    port = free_port()
    auth = f"http://auth.example.test:{port}"
    env = gateway_env(idp.issuer, cookie_domain="example.test", external_url=auth)
    gateway = start_gateway(tmp_path, env)
    app, app_port = start_ws_echo(tmp_path)
    try:
        with nginx_server(
            tmp_path,
            gateway_url=gateway.url,
            app_port=app_port,
            port=port,
            extra_http=render_auth_host(port=port, gateway_url=gateway.url),
            server_name="app.example.test wiki.example.test",
            snippet="deploy/nginx/npm-advanced-domain.conf",
            snippet_replacements={"https://auth.example.com": auth},
        ):
            got = refusal(f"ws://app.example.test:{port}/socket")
            assert "location" not in got
            with Browser() as b:
                assert b.visit(f"http://app.example.test:{port}/").status_code == 200
                cookie = session_cookie(b)
            with ws_connect(f"ws://wiki.example.test:{port}/socket", {"Cookie": cookie}) as conn:
                seen, echoed = echo_round_trip(conn, "hello wiki")
            assert echoed == "hello wiki"
            assert seen["x-authentik-username"] == "alice"
    finally:
        gateway.proc.stop()
        app.stop()


OPEN_SOCKET = """async (url) => await new Promise((resolve) => {
    const ws = new WebSocket(url);
    const got = [];
    const timer = setTimeout(() => resolve({opened: false, got, why: "timeout"}), 10000);
    ws.onmessage = (event) => {
        got.push(event.data);
        if (got.length === 1) { ws.send("hello from chromium"); return; }
        clearTimeout(timer);
        ws.close();
        resolve({opened: true, got});
    };
    ws.onerror = () => { clearTimeout(timer); resolve({opened: false, got, why: "error"}); };
})"""


def checks(world: World, result: str) -> float:
    """authgate_auth_checks_total{result=...} summed over both replicas."""
    total = 0.0
    for replica in world.cluster.replicas:
        for line in httpx.get(f"{replica.url}/metrics").text.splitlines():
            if line.startswith("authgate_auth_checks_total{") and f'result="{result}"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_real_browsers_websocket(world: World, proxy: str) -> None:
    """Chromium's own handshake (its Sec-Fetch-* headers, its cookies): refused with 401 (authgate
    counts no sign-in redirect) before signing in, open and echoing after."""
    chromium = require_binary("chromium", "/usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    origin, socket_url = f"http://app.test:{world.port(proxy)}", f"ws://app.test:{world.port(proxy)}/live"
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--host-resolver-rules=MAP *.test 127.0.0.1"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=args, headless=True)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{origin}/")  # off to the IdP's sign-in form (a page on loopback, as the app)
            redirects, refused = checks(world, "redirect"), checks(world, "unauthenticated")
            assert page.evaluate(OPEN_SOCKET, socket_url)["opened"] is False
            assert checks(world, "redirect") == redirects, "a handshake never starts a sign-in"
            assert checks(world, "unauthenticated") == refused + 1
            # Sign in at the IdP's form, then open the socket from the app's page.
            page.fill("input[name=sub]", "alice")
            page.get_by_role("button", name="Authorize").click()
            page.wait_for_url(f"{origin}/")
            result = page.evaluate(OPEN_SOCKET, socket_url)
        finally:
            browser.close()
    assert result["opened"] is True, result
    hello = json.loads(result["got"][0])
    seen = {n.lower(): v for n, v in hello["headers"]}
    assert seen["x-authentik-username"] == "alice"
    assert "authgate_session" not in seen.get("cookie", "")
    assert result["got"][1] == "hello from chromium"
