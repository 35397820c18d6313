"""Helpers shared by integration and e2e tests: sign in, read the echo app's view, count keys."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import redis

from tests.support.browser import Browser

PREFIX = "/outpost.goauthentik.io"


def echoed_headers(response: httpx.Response) -> dict[str, str]:
    """Headers the echo app received, UTF-8 decoded (http.server reads them as latin-1)."""
    data = json.loads(response.content)
    out: dict[str, str] = {}
    for name, value in data["headers"]:
        out[name.lower()] = value.encode("latin-1", "surrogateescape").decode("utf-8", "replace")
    return out


def echoed_header_list(response: httpx.Response) -> list[tuple[str, str]]:
    return [(n.lower(), v) for n, v in json.loads(response.content)["headers"]]


def start_sign_in(browser: Browser, origin: str, path: str = "/") -> httpx.Response:
    """GET {origin}{PREFIX}/start?rd={origin}{path}; returns the 302 to the IdP."""
    resp = browser.get(f"{origin}{PREFIX}/start?rd={origin}{path}")
    assert resp.status_code == 302, resp.text
    return resp


def idp_callback_url(browser: Browser, authorize_url: str, sub: str = "alice") -> str:
    """Sign in at the mock IdP; return the callback URL it redirects to (not yet visited)."""
    form = browser.get(authorize_url)
    assert form.status_code == 200, form.text[:300]
    resp = browser.http.post(authorize_url, data={"sub": sub})
    assert resp.status_code == 302, resp.text[:300]
    return resp.headers["location"]


def sign_in_direct(browser: Browser, origin: str, sub: str = "alice", path: str = "/") -> httpx.Response:
    """Sign in against a gateway reached directly at ``origin``; returns the callback's response."""
    start = start_sign_in(browser, origin, path)
    callback = idp_callback_url(browser, start.headers["location"], sub)
    resp = browser.get(callback)
    assert resp.status_code == 302, resp.text[:500]
    return resp


def session_cookie(browser: Browser, name: str = "authgate_session") -> str:
    """The browser's session cookie as a Cookie header value, for checks sent straight to a gateway."""
    return "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies.jar if c.name == name)


def query_param(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def store_keys(redis_url: str) -> set[bytes]:
    """Every key in the store, to see that a step added none."""
    client = redis.Redis.from_url(redis_url)
    try:
        return set(client.scan_iter(count=1000))
    finally:
        client.close()


def count_keys(redis_url: str, pattern: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for _ in client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


def assert_forged_headers_dropped_for_missing_claims(origin: str) -> None:
    """authgate sends no header for an empty claim; the proxy in front of ``origin`` must still drop
    the client's copy (a user without groups or name, forging both, plus an oauth2-proxy name)."""
    forged = {"X-authentik-groups": "admins", "X-authentik-name": "Root", "X-Auth-Request-Groups": "admins"}
    with Browser() as b:
        assert b.visit(f"{origin}/", sub="dave-no-groups").status_code == 200
        r = b.get(f"{origin}/", headers=forged)
        assert r.status_code == 200
        seen = echoed_header_list(r)
        assert [v for n, v in seen if n == "x-authentik-username"] == ["dave-no-groups"]
        assert not [(n, v) for n, v in seen if n in ("x-authentik-groups", "x-authentik-name", "x-auth-request-groups")]


def assert_alice_headers(seen: dict[str, str]) -> None:
    """The app received alice's full authentik header set (the mock IdP's test user)."""
    assert seen["x-authentik-username"] == "alice"
    assert seen["x-authentik-groups"] == "admins|staff"
    assert seen["x-authentik-email"] == "alice@example.test"
    assert seen["x-authentik-name"] == "Alice Zoë Example"
    assert seen["x-authentik-uid"] == "alice"
    assert len(seen["x-authentik-jwt"]) > 20


def assert_sub_resources_get_401_without_login_state(origin: str, redis_url: str) -> None:
    """Forward auth: API, XHR, image and POST requests that are not signed in get 401, no cookie,
    and store nothing."""
    before = store_keys(redis_url)
    with Browser() as b:
        for headers in (
            {"Accept": "application/json"},
            {"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"},
            {"Accept": "image/avif,image/webp,*/*;q=0.8", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
        ):
            r = b.http.get(f"{origin}/api/items", headers=headers)
            assert r.status_code == 401
            assert "set-cookie" not in r.headers
        # The proxy asks with GET whatever the method; authgate reads X-Forwarded-Method.
        r = b.http.post(f"{origin}/api/items", headers={"Accept": "text/html"})
        assert r.status_code == 401
        assert "set-cookie" not in r.headers
        assert len(b.http.cookies.jar) == 0
    assert store_keys(redis_url) - before == set()
