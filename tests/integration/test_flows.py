"""Sign-in, callback, sign-out and the auth check against one real gateway, the test playing the proxy."""

from __future__ import annotations

import concurrent.futures

import httpx

from tests.integration.conftest import Direct
from tests.support.browser import Browser
from tests.support.flows import (
    PREFIX,
    count_keys,
    idp_callback_url,
    query_param,
    session_cookie,
    sign_in_direct,
    start_sign_in,
)


def nginx_check(gw_url: str, original: str, cookie: str = "", **headers: str) -> httpx.Response:
    h = {"X-Original-URL": original, "X-Original-Method": "GET", **headers}
    if cookie:
        h["Cookie"] = cookie
    return httpx.get(f"{gw_url}{PREFIX}/auth/nginx", headers=h)


def test_callback_delivered_several_times_at_once_ends_with_one_session(direct: Direct) -> None:
    with Browser() as b:
        start = start_sign_in(b, direct.origin, "/after?x=1")
        callback = idp_callback_url(b, start.headers["location"])
        binding = {c.name: c.value for c in b.http.cookies.jar}
        sessions_before = count_keys(direct.redis.url, "ag:{*}:s")

        def deliver(_: int) -> httpx.Response:
            with Browser() as copy:
                for name, value in binding.items():
                    copy.http.cookies.set(name, value, domain="app.test")
                return copy.get(callback)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(deliver, range(6)))
    assert [r.status_code for r in results] == [302] * 6
    assert {r.headers["location"] for r in results} == {f"{direct.origin}/after?x=1"}
    cookies = {r.headers["set-cookie"].split(";")[0] for r in results}
    assert len(cookies) == 1, "every copy must end with the one session"
    assert count_keys(direct.redis.url, "ag:{*}:s") == sessions_before + 1
    cookie = cookies.pop()
    assert nginx_check(direct.gateway.url, f"{direct.origin}/", cookie).status_code == 200


def test_three_tabs_signing_in_at_once_each_land_on_their_own_page(direct: Direct) -> None:
    with Browser() as b:
        starts = [start_sign_in(b, direct.origin, f"/tab{i}") for i in range(3)]
        assert len({c.name for c in b.http.cookies.jar}) == 3, "one login cookie for each tab"
        callbacks = [idp_callback_url(b, s.headers["location"]) for s in starts]
        for i in (2, 0, 1):
            r = b.get(callbacks[i])
            assert r.status_code == 302
            assert r.headers["location"] == f"{direct.origin}/tab{i}"


def test_callback_from_another_browser_is_refused(direct: Direct) -> None:
    with Browser() as victim, Browser() as attacker:
        start = start_sign_in(attacker, direct.origin)
        callback = idp_callback_url(attacker, start.headers["location"])
        r = victim.get(callback)  # login CSRF: the victim's browser never started this sign-in
        assert r.status_code == 400
        assert "another browser" in r.text
        assert "set-cookie" not in r.headers


def test_forged_and_replayed_state_get_a_page_not_a_loop(direct: Direct) -> None:
    with Browser() as b:
        r = b.get(f"{direct.origin}{PREFIX}/callback?code=abc&state=forged")
        assert r.status_code == 400
        assert "expired, was already used" in r.text
        assert f"{PREFIX}/start?rd=" in r.text
        start = start_sign_in(b, direct.origin)
        callback = idp_callback_url(b, start.headers["location"])
        assert b.get(callback).status_code == 302
        state = query_param(callback, "state")
        r = b.get(f"{direct.origin}{PREFIX}/callback?code=other-code&state={state}")
        assert r.status_code == 400


def test_idp_error_on_callback_shows_a_retry_link_to_the_original_page(direct: Direct) -> None:
    with Browser() as b:
        start = start_sign_in(b, direct.origin, "/wanted")
        state = query_param(start.headers["location"], "state")
        r = b.get(f"{direct.origin}{PREFIX}/callback?error=access_denied&error_description=User+said+no&state={state}")
        assert r.status_code == 400
        assert "access was denied (access_denied)" in r.text
        assert "User said no" not in r.text, "text from a link is not repeated on our page"
        assert "rd=http%3A%2F%2Fapp.test" in r.text and "wanted" in r.text


def test_start_refuses_foreign_redirects(direct: Direct) -> None:
    with Browser() as b:
        for rd in (
            "https://evil.test/",
            "//evil.test/",
            "javascript:alert(1)",
            "http://app.test.evil.test/",
            "https://app.test@evil.test/",
        ):
            r = b.get(f"{direct.origin}{PREFIX}/start", params={"rd": rd})
            assert r.status_code == 400, rd
            assert "location" not in r.headers
            assert "Try again" in r.text, "a next step: sign in and come back to this host"


def test_auth_check_statuses(direct: Direct) -> None:
    gw = direct.gateway.url
    assert nginx_check(gw, f"{direct.origin}/").status_code == 401
    assert nginx_check(gw, f"{direct.origin}/public/status").status_code == 200
    assert nginx_check(gw, f"{direct.origin}/", "authgate_session=forged.value.sig").status_code == 401
    with Browser() as b:
        sign_in_direct(b, direct.origin)
        cookie = session_cookie(b)
    ok = nginx_check(gw, f"{direct.origin}/", cookie)
    assert ok.status_code == 200
    assert ok.headers["x-authentik-username"] == "alice"
    assert ok.headers["x-auth-request-groups"] == "admins,staff"
    assert "set-cookie" not in ok.headers
    host = direct.origin.split("//")[1]
    r = httpx.get(f"{gw}{PREFIX}/userinfo", headers={"Cookie": cookie, "Host": host})
    assert r.json()["preferred_username"] == "alice"
    # The session belongs to the host it was signed in on.
    assert httpx.get(f"{gw}{PREFIX}/userinfo", headers={"Cookie": cookie, "Host": "other.test"}).status_code == 401
    assert httpx.get(f"{gw}{PREFIX}/userinfo").status_code == 401


def test_hostile_input_gets_4xx_never_5xx(direct: Direct) -> None:
    gw = direct.gateway.url
    cases: list[dict[str, str | bytes]] = [
        {},
        {"X-Original-URL": "not a url"},
        {"X-Original-URL": "ftp://app.test/"},
        {"X-Original-URL": "http://app.test/" + "a" * 20000},
        {"X-Original-URL": b"http://app.test/\xff\xfe\xc3"},
        {"X-Original-URL": "http://app.test:99999/"},
        {"X-Original-URL": "http://bad host/"},
        {"X-Original-URL": "http://app.test/", "X-Original-Method": "G E T"},
        {"X-Original-URL": "http://app.test/", "Cookie": "authgate_session=" + "x" * 5000},
        {"X-Original-URL": "http://app.test/", "Cookie": b"authgate_session=\xff\xfe"},
    ]
    for headers in cases:
        r = httpx.get(f"{gw}{PREFIX}/auth/nginx", headers=headers)
        assert r.status_code in (401, 403), (headers, r.status_code)
        assert "Traceback" not in r.text
    for headers in (
        {},
        {"X-Forwarded-Host": "bad host"},
        {"X-Forwarded-Host": "app.test", "X-Forwarded-Uri": "x"},
        {"X-Forwarded-Host": "app.test", "X-Forwarded-Proto": "gopher"},
    ):
        r = httpx.get(f"{gw}{PREFIX}/auth/traefik", headers=headers)
        assert r.status_code == 400, (headers, r.status_code)
    for path in (
        f"{PREFIX}/callback",
        f"{PREFIX}/callback?state=" + "s" * 5000 + "&code=c",
        f"{PREFIX}/start?rd=" + "http://app.test/" + "a" * 10000,
        f"{PREFIX}/sign_out?rd=https://evil.test/",
    ):
        r = httpx.get(f"{gw}{path}", headers={"Host": "app.test", "Accept": "text/html"})
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert "Traceback" not in r.text
    r = httpx.post(f"{gw}{PREFIX}/backchannel_logout", data={"logout_token": "a.b.c"})
    assert r.status_code == 400
    r = httpx.post(f"{gw}{PREFIX}/backchannel_logout", content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400


def test_health_readiness_metrics_ping(direct: Direct) -> None:
    gw = direct.gateway.url
    assert httpx.get(f"{gw}/healthz").status_code == 200
    ready = httpx.get(f"{gw}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert httpx.get(f"{gw}{PREFIX}/ping").status_code == 204
    metrics = httpx.get(f"{gw}/metrics").text
    assert "authgate_auth_checks_total" in metrics


def test_sign_out_with_rd_goes_to_the_idp_then_rd(direct: Direct) -> None:
    with Browser() as b:
        sign_in_direct(b, direct.origin)
        cookie = session_cookie(b)
        r = b.get(f"{direct.origin}{PREFIX}/sign_out?rd={direct.origin}/bye")
        assert r.status_code == 302
        # The IdP returns to the one registrable address, and from there on to rd (carried in state).
        assert query_param(r.headers["location"], "post_logout_redirect_uri") == f"{direct.origin}{PREFIX}/signed_out"
        back = b.get(f"{direct.origin}{PREFIX}/signed_out?state={query_param(r.headers['location'], 'state')}")
        assert back.status_code == 302 and back.headers["location"] == f"{direct.origin}/bye"
    assert nginx_check(direct.gateway.url, f"{direct.origin}/", cookie).status_code == 401


def test_a_dump_of_redis_yields_no_token_email_or_name(direct: Direct) -> None:
    import redis

    with Browser() as b:
        sign_in_direct(b, direct.origin)
        cookie = session_cookie(b)
    ok = nginx_check(direct.gateway.url, f"{direct.origin}/", cookie)
    token = ok.headers["x-authentik-jwt"]
    with Browser() as pending:  # a sign-in left half-way: its state is in its cookie, not the store
        start = start_sign_in(pending, direct.origin, "/secret-report-42")
        nonce = query_param(start.headers["location"], "nonce")
    client = redis.Redis.from_url(direct.redis.url)
    try:
        dump = b""
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            dump += key
            if kind == b"string":
                dump += client.get(key) or b""
            elif kind == b"set":
                dump += b"".join(client.smembers(key))
    finally:
        client.close()
    assert dump, "the store holds the session"
    secrets = (token, "alice@example.test", "Alice", "admins", cookie.split("=", 1)[1], nonce, "secret-report-42")
    for secret in (s.encode() for s in secrets):
        assert secret not in dump, secret


def test_start_accepts_every_rd_form_the_snippets_send(direct: Direct) -> None:
    from urllib.parse import quote

    target = f"{direct.origin}/dash?tab=1&x=2"
    forms = {
        "nginx snippet (raw)": f"rd={target}",
        "fully encoded": f"rd={quote(target, safe='')}",
        "ingress-nginx $escaped_request_uri": f"rd={direct.origin}{quote('/dash?tab=1&x=2', safe='')}",
        "Authentik's snippet: relative $request_uri": "rd=/dash?tab=1&x=2",
    }
    with Browser() as b:
        for name, query in forms.items():
            start = b.get(f"{direct.origin}{PREFIX}/start?{query}")
            assert start.status_code == 302, name
            callback = idp_callback_url(b, start.headers["location"])
            r = b.get(callback)
            assert r.headers["location"] == target, name


def test_sign_out_accepts_a_relative_rd_and_refuses_a_foreign_one(direct: Direct) -> None:
    with Browser() as b:
        sign_in_direct(b, direct.origin)
        r = b.get(f"{direct.origin}{PREFIX}/sign_out?rd=/bye")
        assert r.status_code == 302
        back = b.get(f"{direct.origin}{PREFIX}/signed_out?state={query_param(r.headers['location'], 'state')}")
        assert back.headers["location"] == f"{direct.origin}/bye"
        r = b.get(f"{direct.origin}{PREFIX}/sign_out?rd=https://evil.test/")
        assert r.status_code == 400 and "location" not in r.headers
