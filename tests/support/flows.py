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
