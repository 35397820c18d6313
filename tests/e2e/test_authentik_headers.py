"""Authentik's whole header set through real nginx, Traefik and Caddy, from a real IdP's claims.

The node IdP (tests/idp) sends alice's ``entitlements`` and ``ak_proxy`` claims as Authentik does
when authgate asks for the ``entitlements`` and ``ak_proxy`` scopes: additionalHeaders (one for the
app, five hostile ones) and HTTP Basic credentials under the attribute names this gateway is set to
read. The recipes are the ones in deploy/, with the one line an operator adds to copy X-Wiki-User.
docs/security.md lists these attacks with the tests below.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.flows import PREFIX, echoed_header_list
from tests.support.node_idp import NodeIdP, start_node_idp
from tests.support.procs import Proc, free_port, wait_for
from tests.support.servers import Gateway, gateway_env, nginx_server, start_echo, start_gateway, traefik_server

pytestmark = pytest.mark.e2e

CLIENT_ID = "authgate-akheaders"
CLIENT_SECRET = "client-secret-for-the-header-tests"
PROXIES = ["nginx", "traefik", "caddy"]

# What an operator adds to each recipe to pass on an additionalHeaders name (as with Authentik).
NGINX_AUTHZ = "    proxy_set_header Authorization $authgate_authorization;\n"
NGINX_WIKI = (
    "    auth_request_set $wiki_user $upstream_http_x_wiki_user;\n    proxy_set_header X-Wiki-User $wiki_user;\n"
)
TRAEFIK_AUTHZ = "          - Authorization\n"
CADDY_COPY = " Cookie Authorization\n"


@dataclass
class World:
    idp: NodeIdP
    gateway: Gateway
    ports: dict[str, int]

    def origin(self, proxy: str) -> str:
        return f"http://app.test:{self.ports[proxy]}"


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    echo, echo_port = start_echo(module_tmp)
    ports = {proxy: free_port() for proxy in PROXIES}
    idp = start_node_idp(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://app.test:{port}{PREFIX}/callback" for port in ports.values()],
    )
    env = gateway_env(
        idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes="openid email profile offline_access entitlements ak_proxy",
        skip_auth="^/public/",
        authentik_app_slug="wiki",
        authentik_provider_name="Wiki provider",
        authentik_jwks_url=f"{idp.issuer}/jwks",
        authentik_basic_auth_username_attribute="app_username",
        authentik_basic_auth_password_attribute="app_password",
    )
    gateway = start_gateway(module_tmp, env, name="authgate-akheaders")
    procs: list[Proc] = [echo, gateway.proc]
    try:
        with (
            nginx_server(
                module_tmp,
                gateway_url=gateway.url,
                app_port=echo_port,
                port=ports["nginx"],
                snippet_replacements={NGINX_AUTHZ: NGINX_AUTHZ + NGINX_WIKI},
            ),
            traefik_server(
                module_tmp,
                gateway_url=gateway.url,
                app_port=echo_port,
                port=ports["traefik"],
                replacements={TRAEFIK_AUTHZ: TRAEFIK_AUTHZ + "          - X-Wiki-User\n"},
            ),
            caddy_server(
                module_tmp,
                gateway_url=gateway.url,
                app_port=echo_port,
                port=ports["caddy"],
                replacements={CADDY_COPY: " Cookie Authorization X-Wiki-User\n"},
            ),
        ):
            traefik = f"http://127.0.0.1:{ports['traefik']}/public/"
            wait_for(lambda: httpx.get(traefik, headers={"Host": "app.test"}).status_code != 404, what="Traefik routes")
            yield World(idp, gateway, ports)
    finally:
        idp.stop()
        for proc in procs:
            proc.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def seen_by_the_app(world: World, proxy: str, sub: str, **forged: str) -> dict[str, list[str]]:
    """Sign ``sub`` in through ``proxy``, then send one request with ``forged`` headers: what the app got."""
    with Browser() as b:
        assert b.visit(f"{world.origin(proxy)}/", sub=sub).status_code == 200
        r = b.get(f"{world.origin(proxy)}/page", headers={k.replace("_", "-"): v for k, v in forged.items()})
        assert r.status_code == 200, r.text[:300]
    out: dict[str, list[str]] = {}
    for name, value in echoed_header_list(r):
        out.setdefault(name, []).append(value)
    return out


FORGED = {
    "X_authentik_entitlements": "wiki-admin",
    "X_authentik_meta_app": "forged",
    "X_authentik_meta_jwks": "https://evil.test/jwks",
    "X_authentik_meta_provider": "forged",
    "X_authentik_meta_outpost": "forged",
    "X_authentik_meta_version": "forged",
    "X_Wiki_User": "root",
    "Authorization": basic("root", "forged"),
}


@pytest.mark.parametrize("proxy", PROXIES)
def test_the_app_gets_entitlements_meta_headers_and_the_idps_headers(world: World, proxy: str) -> None:
    seen = seen_by_the_app(world, proxy, "alice", **FORGED)
    assert seen["x-authentik-username"] == ["alice"]
    assert seen["x-authentik-entitlements"] == ["wiki-read|wiki-write"]
    assert seen["x-authentik-meta-jwks"] == [f"{world.idp.issuer}/jwks"]
    assert seen["x-authentik-meta-outpost"] == ["authgate"]
    assert seen["x-authentik-meta-provider"] == ["Wiki provider"]
    assert seen["x-authentik-meta-app"] == ["wiki"]
    assert len(seen["x-authentik-meta-version"]) == 1 and seen["x-authentik-meta-version"][0].startswith("authgate/")
    # ak_proxy: the header for the app, and the HTTP Basic credentials instead of the client's own.
    assert seen["x-wiki-user"] == ["alice-on-the-wiki"]
    assert seen["authorization"] == [basic("alice-wiki", "wiki-pass:word")]


def test_userinfo_shows_the_entitlements_never_the_credentials(world: World) -> None:
    with Browser() as b:
        assert b.visit(f"{world.origin('nginx')}/", sub="alice").status_code == 200
        r = b.get(f"{world.origin('nginx')}{PREFIX}/userinfo")
    assert r.status_code == 200
    assert r.json()["entitlements"] == ["wiki-read", "wiki-write"]
    assert "wiki-pass" not in r.text and "alice-on-the-wiki" not in r.text


@pytest.mark.parametrize("proxy", PROXIES)
def test_hostile_additional_headers_never_reach_the_app(world: World, proxy: str) -> None:
    seen = seen_by_the_app(world, proxy, "alice")
    assert seen["x-authentik-username"] == ["alice"], "additionalHeaders cannot rename the user"
    assert seen.get("x-forwarded-for", [""])[0] != "203.0.113.9"
    assert "evil.test" not in seen["host"][0]
    assert not [n for n in seen if "wiki-role" in n.replace("_", "-") or n in ("x-injected", "x-wiki-note")]


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_user_without_the_claims_gets_none_and_forged_copies_are_dropped(world: World, proxy: str) -> None:
    seen = seen_by_the_app(world, proxy, "bob", **FORGED)
    assert seen["x-authentik-username"] == ["bob"]
    for name in ("x-authentik-entitlements", "x-wiki-user", "authorization"):
        assert name not in seen, f"{name}: {seen.get(name)}"
    # The deployment's values, whoever the user is.
    assert seen["x-authentik-meta-app"] == ["wiki"]
    assert seen["x-authentik-meta-provider"] == ["Wiki provider"]


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_public_path_passes_no_client_authorization_when_authgate_owns_it(world: World, proxy: str) -> None:
    r = httpx.get(
        f"http://127.0.0.1:{world.ports[proxy]}/public/x",
        headers={"Host": f"app.test:{world.ports[proxy]}", "Authorization": basic("root", "forged")},
    )
    assert r.status_code == 200
    assert "authorization" not in dict(echoed_header_list(r))


def test_what_was_left_out_is_logged_once_by_name_never_by_value(world: World) -> None:
    for proxy in PROXIES:
        seen_by_the_app(world, proxy, "alice")
    log = world.gateway.proc.log_path.read_text()
    for name in ("X-authentik-username", "X-Forwarded-For", "Host", "X_Wiki_Role", "X-Wiki-Note"):
        assert log.count(f"ak_proxy claim: header {name!r} left out") == 1, name
    for value in ("wiki-pass", "203.0.113.9", "evil.test", "X-Injected"):
        assert value not in log, value
