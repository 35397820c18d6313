"""End to end through real nginx running the Nginx Proxy Manager snippet from deploy/nginx/."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.support.browser import Browser
from tests.support.flows import (
    PREFIX,
    assert_alice_headers,
    assert_forged_headers_dropped_for_missing_claims,
    echoed_header_list,
    echoed_headers,
    store_keys,
)
from tests.support.servers import nginx_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nginx(stack: Stack) -> Iterator[int]:
    with nginx_server(
        stack.tmp, gateway_url=stack.gateway.url, app_port=stack.echo_port, server_name="app.test admin.test"
    ) as port:
        yield port


def test_sign_in_lands_on_the_original_url_with_identity_headers(nginx: int) -> None:
    with Browser() as b:
        r = b.visit(f"http://app.test:{nginx}/reports/q3?sort=desc&page=2")
        assert r.status_code == 200
        assert r.json()["path"] == "/reports/q3?sort=desc&page=2"
        seen = echoed_headers(r)
        assert_alice_headers(seen)
        # The sign-in went through /start on the app's own host and port ($http_host, not $host).
        urls = [str(h.request.url) for h in b.history]
        assert any(u.startswith(f"http://app.test:{nginx}{PREFIX}/start?rd=") for u in urls)
        assert any(u.startswith(f"http://app.test:{nginx}{PREFIX}/callback?") for u in urls)
        # A second request needs no sign-in.
        again = b.get(f"http://app.test:{nginx}/other")
        assert again.status_code == 200
        assert echoed_headers(again)["x-authentik-username"] == "alice"


def test_client_supplied_identity_headers_never_reach_the_app(nginx: int) -> None:
    forged = {"X-authentik-username": "root", "X-authentik-groups": "admins", "X-authentik-uid": "root"}
    with Browser() as b:
        # Not signed in: forged headers get the user a sign-in, not the app.
        r = b.get(f"http://app.test:{nginx}/", headers=forged)
        assert r.status_code == 302
        assert f"{PREFIX}/start" in r.headers["location"]
        b.visit(f"http://app.test:{nginx}/")
        r = b.get(f"http://app.test:{nginx}/", headers=forged)
        assert r.status_code == 200
        pairs = echoed_header_list(r)
        assert [v for n, v in pairs if n == "x-authentik-username"] == ["alice"]
        assert [v for n, v in pairs if n == "x-authentik-uid"] == ["alice"]
        assert [v for n, v in pairs if n == "x-authentik-groups"] == ["admins|staff"]


def test_denied_user_gets_403_from_nginx(nginx: int) -> None:
    with Browser() as b:
        r = b.visit(f"http://admin.test:{nginx}/", sub="bob")
        assert r.status_code == 403
        assert "x-authentik-username" not in r.text
    with Browser() as b:
        r = b.visit(f"http://admin.test:{nginx}/", sub="alice")
        assert r.status_code == 200


def test_sub_resources_store_nothing_and_set_no_cookie(nginx: int, stack: Stack) -> None:
    before = store_keys(stack.redis.url)
    image = {"Accept": "image/avif,image/webp,*/*;q=0.8", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    xhr = {
        "Accept": "application/json",
        "X-Requested-With": "XMLHttpRequest",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Dest": "empty",
    }
    with Browser() as b:
        for headers in (image, xhr):
            for _ in range(5):
                r = b.get(f"http://app.test:{nginx}/favicon.ico", headers=headers)
                assert r.status_code == 302  # nginx's error_page sends everything to /start
                r = b.get(r.headers["location"], headers=headers)
                assert r.status_code == 401
                assert "set-cookie" not in r.headers
        assert b.http.cookies.jar.__len__() == 0
    assert store_keys(stack.redis.url) - before == set()


def test_sign_out_ends_the_session_and_an_old_cookie_no_longer_works(nginx: int) -> None:
    with Browser() as b:
        assert b.visit(f"http://app.test:{nginx}/").status_code == 200
        old_cookies = httpx.Cookies(b.http.cookies)
        r = b.get(f"http://app.test:{nginx}{PREFIX}/sign_out")
        assert r.status_code == 302
        assert r.headers["location"].startswith(stack_issuer_prefix(r))
        assert "authgate_session=;" in r.headers["set-cookie"]
        assert b.get(f"http://app.test:{nginx}/").status_code == 302
    with Browser() as replay:
        replay.http.cookies = old_cookies
        r = replay.get(f"http://app.test:{nginx}/")
        assert r.status_code == 302
        assert f"{PREFIX}/start" in r.headers["location"]


def stack_issuer_prefix(response: httpx.Response) -> str:
    location = response.headers["location"]
    assert "/oauth2/end_session?" in location
    assert "id_token_hint=" in location
    assert "post_logout_redirect_uri=" in location
    return location.split("/oauth2/")[0]


def test_forged_headers_are_dropped_when_the_user_has_no_such_claim(nginx: int) -> None:
    assert_forged_headers_dropped_for_missing_claims(f"http://app.test:{nginx}")
