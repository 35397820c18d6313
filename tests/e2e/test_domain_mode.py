"""Domain-level mode (COOKIE_DOMAIN + EXTERNAL_URL): one sign-in on the central auth host covers
every subdomain, and the callback lands on the auth host only. Through nginx and Traefik, with
the recipes from deploy/."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.flows import PREFIX, echoed_headers, query_param
from tests.support.procs import free_port, wait_for
from tests.support.servers import (
    IdP,
    gateway_env,
    nginx_server,
    render_auth_host,
    start_echo,
    start_gateway,
    traefik_server,
)

pytestmark = pytest.mark.e2e


def _assert_one_sign_in_covers_the_domain(port: int) -> None:
    auth = f"http://auth.example.test:{port}"
    with Browser() as b:
        r = b.visit(f"http://app.example.test:{port}/first?a=1")
        assert r.status_code == 200, r.text[:300]
        assert r.json()["path"] == "/first?a=1"
        assert echoed_headers(r)["x-authentik-username"] == "alice"
        hops = [str(h.request.url) for h in b.history]
        callbacks = [u for u in hops if f"{PREFIX}/callback" in u]
        assert callbacks and all(u.startswith(f"{auth}{PREFIX}/callback?") for u in callbacks)
        authorize = next(u for u in hops if "/oauth2/authorize" in u)
        assert query_param(authorize, "redirect_uri") == f"{auth}{PREFIX}/callback"
        session = [c for c in b.http.cookies.jar if c.name == "authgate_session"]
        assert len(session) == 1 and session[0].domain.lstrip(".") == "example.test"
        # Another app on the domain: no sign-in, straight in.
        other = b.get(f"http://wiki.example.test:{port}/")
        assert other.status_code == 200
        assert echoed_headers(other)["x-authentik-username"] == "alice"


def test_domain_mode_through_nginx(tmp_path: Path, idp: IdP) -> None:
    port = free_port()
    env = gateway_env(idp.issuer, cookie_domain="example.test", external_url=f"http://auth.example.test:{port}")
    gateway = start_gateway(tmp_path, env)
    echo, echo_port = start_echo(tmp_path)
    auth_host = render_auth_host(port=port, gateway_url=gateway.url)
    try:
        with nginx_server(
            tmp_path,
            gateway_url=gateway.url,
            app_port=echo_port,
            port=port,
            extra_http=auth_host,
            server_name="app.example.test wiki.example.test",
            snippet="deploy/nginx/npm-advanced-domain.conf",
            snippet_replacements={"https://auth.example.com": f"http://auth.example.test:{port}"},
        ):
            _assert_one_sign_in_covers_the_domain(port)
    finally:
        gateway.proc.stop()
        echo.stop()


def test_domain_mode_through_traefik(tmp_path: Path, idp: IdP) -> None:
    port = free_port()
    env = gateway_env(idp.issuer, cookie_domain="example.test", external_url=f"http://auth.example.test:{port}")
    gateway = start_gateway(tmp_path, env)
    echo, echo_port = start_echo(tmp_path)
    try:
        with traefik_server(
            tmp_path,
            gateway_url=gateway.url,
            app_port=echo_port,
            host="app.example.test",
            port=port,
            recipe="deploy/traefik/domain-level.yml",
            replacements={"wiki.example.com": "wiki.example.test", "auth.example.com": "auth.example.test"},
        ):
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "app.example.test"}).status_code != 404,
                what="routers",
            )
            _assert_one_sign_in_covers_the_domain(port)
    finally:
        gateway.proc.stop()
        echo.stop()
