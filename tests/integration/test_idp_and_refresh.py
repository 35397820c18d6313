"""The IdP's side: outage, token refresh, and the Caddy route."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.browser import Browser
from tests.support.flows import PREFIX, query_param, session_cookie, sign_in_direct
from tests.support.procs import wait_for
from tests.support.servers import Gateway, IdP, gateway_env, start_gateway, start_mock_idp


@dataclass
class Signed:
    idp: IdP
    gateway: Gateway
    origin: str
    cookie: str


@contextmanager
def signed_in(tmp_path: Path, **idp_options: int) -> Iterator[Signed]:
    """A dedicated IdP and gateway (tests here stop the IdP), and alice signed in through them."""
    idp = start_mock_idp(tmp_path, **idp_options)
    gateway = start_gateway(tmp_path, gateway_env(idp.issuer))
    origin = f"http://app.test:{gateway.port}"
    try:
        with Browser() as b:
            sign_in_direct(b, origin)
            cookie = session_cookie(b)
        yield Signed(idp, gateway, origin, cookie)
    finally:
        gateway.proc.stop()
        idp.proc.stop()


def test_idp_down_keeps_sessions_and_explains_new_sign_ins(tmp_path: Path) -> None:
    with signed_in(tmp_path) as w:
        idp, gateway, origin, cookie = w.idp, w.gateway, w.origin, w.cookie
        assert httpx.get(f"{gateway.url}/readyz", timeout=10).json() == {"ready": True}
        with Browser() as late:
            started = late.get(f"{origin}{PREFIX}/start?rd={origin}/x")  # before the outage
            assert started.status_code == 302
            idp.proc.kill(signal.SIGKILL)

            # The IdP answered before: an outage, not a setup problem. The replica stays in service
            # (signed-in users pass) and says what is wrong.
            def degraded() -> bool:
                ready = httpx.get(f"{gateway.url}/readyz", timeout=10)
                assert ready.status_code == 200, ready.text
                return "idp" in ready.json().get("degraded", {})

            wait_for(degraded, timeout=15, what="/readyz to report the IdP's outage")
            r = httpx.get(
                f"{gateway.url}{PREFIX}/auth/nginx", headers={"X-Original-URL": f"{origin}/", "Cookie": cookie}
            )
            assert r.status_code == 200, "existing sessions keep working"
            assert r.headers["x-authentik-username"] == "alice"
            state = query_param(started.headers["location"], "state")
            r = late.get(f"{origin}{PREFIX}/callback?code=c&state={state}")
            assert r.status_code == 503
            assert "cannot be reached" in r.text
            assert f"{PREFIX}/start?rd=" in r.text
        with Browser() as b:
            r = b.get(f"{origin}{PREFIX}/start?rd={origin}/y")
            assert r.status_code == 503, "never send a browser to a dead IdP"
            assert "identity provider cannot be reached" in r.text
            assert f"{PREFIX}/start?rd=http%3A%2F%2Fapp.test" in r.text


def test_idp_unreachable_at_startup_gives_an_error_page_and_red_readiness(tmp_path: Path) -> None:
    idp = start_mock_idp(tmp_path)
    idp.proc.stop()
    gateway = start_gateway(tmp_path, gateway_env(idp.issuer))
    origin = f"http://app.test:{gateway.port}"
    try:
        with Browser() as b:
            r = b.get(f"{origin}{PREFIX}/start?rd={origin}/x")
            assert r.status_code == 503
            assert "identity provider cannot be reached" in r.text
            assert f"{PREFIX}/start?rd=http%3A%2F%2Fapp.test" in r.text
        r = httpx.get(
            f"{gateway.url}{PREFIX}/auth/traefik",
            headers={
                "X-Forwarded-Host": "app.test",
                "X-Forwarded-Uri": "/",
                "X-Forwarded-Method": "GET",
                "Accept": "text/html",
            },
        )
        assert r.status_code == 503
        assert "Try again" in r.text
        ready = httpx.get(f"{gateway.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert "idp" in ready.json()["problems"]
    finally:
        gateway.proc.stop()


def test_access_token_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    with signed_in(tmp_path, token_max_age=4) as w:  # refresh margin: half of 4 s

        def jwt() -> str:
            r = httpx.get(
                f"{w.gateway.url}{PREFIX}/auth/nginx", headers={"X-Original-URL": f"{w.origin}/", "Cookie": w.cookie}
            )
            assert r.status_code == 200
            return r.headers["x-authentik-jwt"]

        first = jwt()
        assert jwt() == first, "no refresh while the token is fresh"
        wait_for(lambda: jwt() != first, timeout=10, what="a refreshed access token")
        second = jwt()
        assert jwt() == second


def test_caddy_route_accepts_the_appended_query_string(tmp_path: Path) -> None:
    with signed_in(tmp_path) as w:
        base = {
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "app.test",
            "X-Forwarded-Uri": "/a?b=1",
            "X-Forwarded-Method": "GET",
        }
        r = httpx.get(f"{w.gateway.url}{PREFIX}/auth/caddy?b=1", headers={**base, "Cookie": w.cookie})
        assert r.status_code == 200
        assert r.headers["x-authentik-username"] == "alice"
        r = httpx.get(f"{w.gateway.url}{PREFIX}/auth/caddy?b=1", headers={**base, "Accept": "text/html"})
        assert r.status_code == 302
        assert r.headers["location"].startswith(f"{w.idp.issuer}/oauth2/authorize?")
