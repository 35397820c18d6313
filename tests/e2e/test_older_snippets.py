"""Authentik's own proxy configurations, unchanged but for the outpost's address, with authgate.

tests/fixtures/authentik/ holds them: Caddy's earlier snippet (no ``route`` block: forward_auth runs
before the route of /outpost.goauthentik.io/* to authgate, so the IdP's redirect back to /callback
first arrives as an auth check), its current one (in ``route``), and Traefik's documented labels
(written out for the file provider), also with the app's router ranked above the outpost's, so that
Traefik too checks the outpost's paths first. The sign-in must finish through each; the hostile
table below asks about the gateway's own paths in every spelling, and nothing may reach the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_hostile import HOSTILE_OWN_PATHS, assert_kept_from_the_app, raw_get
from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.flows import PREFIX, echoed_headers, session_cookie, store_keys
from tests.support.procs import wait_for
from tests.support.servers import ROOT, render_recipe, traefik_server

pytestmark = pytest.mark.e2e

FIXTURES = "tests/fixtures/authentik"
# The app router above the outpost's: Traefik then runs forwardAuth on /outpost.goauthentik.io/* too.
APP_FIRST = {"      middlewares: [authentik]\n": "      middlewares: [authentik]\n      priority: 1000\n"}


def _caddy(stack: Stack, name: str) -> AbstractContextManager[int]:
    def render(port: int) -> str:
        return render_recipe(
            ROOT / FIXTURES / name,
            {
                "\napp.company {\n": f"\nhttp://app.test:{port} {{\n",
                "http://outpost.company:9000": stack.gateway.url,
                "reverse_proxy localhost:1234\n": f"reverse_proxy 127.0.0.1:{stack.echo_port}\n",
            },
        )

    return caddy_server(stack.tmp, gateway_url=stack.gateway.url, app_port=stack.echo_port, render=render)


@contextmanager
def _traefik(stack: Stack, replacements: dict[str, str]) -> Iterator[int]:
    with traefik_server(
        stack.tmp,
        gateway_url=stack.gateway.url,
        app_port=stack.echo_port,
        recipe=f"{FIXTURES}/traefik-labels.yml",
        replacements=replacements,
    ) as port:
        wait_for(lambda: raw_get(port, "/", f"app.test:{port}").status != 404, what="Traefik's routers")
        yield port


SETUPS: dict[str, Callable[[Stack], AbstractContextManager[int]]] = {
    "caddy-older": lambda stack: _caddy(stack, "Caddyfile.older"),
    "caddy-route": lambda stack: _caddy(stack, "Caddyfile.route"),
    "traefik-labels": lambda stack: _traefik(stack, {}),
    "traefik-labels-app-first": lambda stack: _traefik(stack, APP_FIRST),
}
# Where the sign-in's own paths meet the auth check first.
CHECKED_FIRST = ["caddy-older", "traefik-labels-app-first"]


@dataclass
class Proxies:
    ports: dict[str, int]


@pytest.fixture(scope="module")
def proxies(stack: Stack) -> Iterator[Proxies]:
    managers = {name: setup(stack) for name, setup in SETUPS.items()}
    ports: dict[str, int] = {}
    try:
        for name, manager in managers.items():
            ports[name] = manager.__enter__()
        yield Proxies(ports)
    finally:
        for name in reversed(list(ports)):
            managers[name].__exit__(None, None, None)


@pytest.mark.parametrize("setup", list(SETUPS))
def test_the_sign_in_finishes_and_lands_on_the_page_asked_for(proxies: Proxies, stack: Stack, setup: str) -> None:
    origin = f"http://app.test:{proxies.ports[setup]}"
    with Browser() as b:
        r = b.get(f"{origin}/dash?tab=1")
        assert r.status_code == 302
        assert r.headers["location"].startswith(f"{stack.idp.issuer}/oauth2/authorize?")
        final = b.follow(r)
        assert final.status_code == 200, final.text[:300]
        assert final.json()["path"] == "/dash?tab=1"
        assert echoed_headers(final)["x-authentik-username"] == "alice"
        callbacks = [h for h in b.history if str(h.request.url).startswith(f"{origin}{PREFIX}/callback?")]
        assert len(callbacks) == 1, "one trip through the callback, no loop"
        assert callbacks[0].status_code == 302
        assert callbacks[0].headers["location"] == f"{origin}/dash?tab=1"
        # Signed in: the next page goes straight through, and sign-out works on the app's host.
        assert echoed_headers(b.get(f"{origin}/other"))["x-authentik-username"] == "alice"
        out = b.get(f"{origin}{PREFIX}/sign_out")
        assert out.status_code == 302
        assert "authgate_session=;" in out.headers["set-cookie"]
        assert b.get(f"{origin}/other").status_code == 302


@pytest.mark.parametrize("setup", CHECKED_FIRST)
def test_a_used_or_forged_callback_is_an_error_page_not_the_app(proxies: Proxies, stack: Stack, setup: str) -> None:
    port = proxies.ports[setup]
    before = store_keys(stack.redis.url)
    r = raw_get(port, f"{PREFIX}/callback?state=forged&code=x", f"app.test:{port}")
    assert r.status == 400 and not r.served
    assert b"Sign-in failed" in r.body
    assert store_keys(stack.redis.url) - before == set()


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize(("target", "method", "why"), HOSTILE_OWN_PATHS)
def test_the_gateways_own_paths_never_reach_the_app(
    proxies: Proxies, setup: str, target: str, method: str, why: str
) -> None:
    port = proxies.ports[setup]
    assert_kept_from_the_app(raw_get(port, target, f"app.test:{port}", method=method), f"{setup}: {target} ({why})")


@pytest.mark.parametrize("setup", CHECKED_FIRST)
def test_the_sign_in_routes_are_the_gateways_whoever_is_routed_the_prefix(proxies: Proxies, setup: str) -> None:
    """With the app's router first, Traefik never routes the prefix to authgate: /start and /sign_out
    still work (answered inside the check), and never reach the app."""
    origin = f"http://app.test:{proxies.ports[setup]}"
    with Browser() as b:
        assert b.visit(f"{origin}/").status_code == 200
        r = b.get(f"{origin}{PREFIX}/start?rd={origin}/again")
        assert r.status_code == 302 and "/oauth2/authorize?" in r.headers["location"]
        r = b.get(f"{origin}{PREFIX}/sign_out?rd={origin}/bye")
        assert r.status_code == 302, r.text[:200]
        assert "authgate_session=;" in r.headers["set-cookie"]


def test_the_older_caddy_snippet_routes_the_other_gateway_routes_to_authgate(proxies: Proxies) -> None:
    port = proxies.ports["caddy-older"]
    with Browser() as b:
        assert b.visit(f"http://app.test:{port}/").status_code == 200
        cookie = session_cookie(b)
    # Signed in, the check of /userinfo passes, and Caddy's route sends it on to authgate.
    r = httpx.get(
        f"http://127.0.0.1:{port}{PREFIX}/userinfo",
        headers={"Host": f"app.test:{port}", "Cookie": cookie, "Accept": "application/json"},
    )
    assert r.status_code == 200 and r.json()["sub"] == "alice"
