"""The IdP's side of signing out, against real gateways: the return address after RP-initiated
logout (``/signed_out``, with ``rd`` carried signed in ``state``) and OpenID Connect Front-Channel
Logout (``/frontchannel_logout?iss=..&sid=..``), with ID tokens that carry no ``sid`` (the mock IdP,
as LemonLDAP::NG) and ones that do (the node IdP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.conftest import Direct
from tests.support.browser import Browser
from tests.support.flows import PREFIX, query_param, session_cookie, sign_in_direct
from tests.support.node_idp import NodeIdP, follow_idp, start_node_idp
from tests.support.procs import free_port
from tests.support.servers import Gateway, gateway_env, start_gateway, start_redis


def nginx_check(gw: Gateway, origin: str, cookie: str) -> int:
    headers = {"X-Original-URL": f"{origin}/", "X-Original-Method": "GET", "Cookie": cookie}
    return httpx.get(f"{gw.url}{PREFIX}/auth/nginx", headers=headers).status_code


def signed_in(origin: str, sub: str) -> str:
    with Browser() as b:
        sign_in_direct(b, origin, sub)
        return session_cookie(b)


def sign_out_state(origin: str, rd: str) -> str:
    """Sign in, then out with ``rd``: the ``state`` authgate sent to the IdP's end-session endpoint."""
    with Browser() as b:
        sign_in_direct(b, origin)
        r = b.get(f"{origin}{PREFIX}/sign_out?rd={quote(rd, safe='')}")
        assert r.status_code == 302
        return query_param(r.headers["location"], "state")


# -- /signed_out --------------------------------------------------------------------------------


def test_signed_out_sends_the_browser_on_to_the_rd_the_state_carries(direct: Direct) -> None:
    state = sign_out_state(direct.origin, f"{direct.origin}/bye?x=1&y=2")
    with Browser() as b:
        r = b.get(f"{direct.origin}{PREFIX}/signed_out", params={"state": state})
        assert r.status_code == 302
        assert r.headers["location"] == f"{direct.origin}/bye?x=1&y=2"


@pytest.mark.parametrize(
    ("case", "query"),
    [
        ("no state (a sign-out without rd)", ""),
        ("a forged state", "?state=aHR0cHM6Ly9ldmlsLnRlc3Qv.AAAAAA.forged"),
        ("a state that is a bare URL", "?state=https://evil.test/"),
        ("an over-long state", "?state=" + "A" * 5000),
    ],
)
def test_signed_out_without_a_valid_state_shows_a_page_and_redirects_nowhere(
    direct: Direct, case: str, query: str
) -> None:
    with Browser() as b:
        r = b.get(f"{direct.origin}{PREFIX}/signed_out{query}")
    assert r.status_code == 200, case
    assert "location" not in r.headers, case
    assert "You have been signed out" in r.text
    assert f'href="{direct.origin}/"' in r.text


def test_a_state_signed_for_one_host_opens_no_redirect_on_another(direct: Direct) -> None:
    """A valid state is still checked against the host it comes back to: no open redirect by
    replaying a state of app.test on other.test."""
    state = sign_out_state(direct.origin, f"{direct.origin}/bye")
    with Browser() as b:
        r = b.get(f"http://other.test:{direct.gateway.port}{PREFIX}/signed_out", params={"state": state})
    assert r.status_code == 200 and "location" not in r.headers


# -- /frontchannel_logout, ID tokens without sid (the mock IdP) -----------------------------------


def test_front_channel_logout_by_subject_when_the_issuer_sends_no_sid(direct: Direct) -> None:
    laptop, phone, bob = (signed_in(direct.origin, sub) for sub in ("alice", "alice", "bob"))
    r = httpx.get(
        f"{direct.gateway.url}{PREFIX}/frontchannel_logout", params={"iss": direct.idp.issuer, "sid": "alice"}
    )
    assert r.status_code == 200
    # An iframe of the IdP's page: framable, never cached, no cookie needed or set.
    assert "x-frame-options" not in r.headers and "set-cookie" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    # alice is signed out on every device; bob is not.
    assert [nginx_check(direct.gateway, direct.origin, c) for c in (laptop, phone, bob)] == [401, 401, 200]


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("another issuer", {"iss": "http://idp.other.test", "sid": "bob"}),
        ("no iss", {"sid": "bob"}),
        ("no sid", {"iss": "{issuer}"}),
        ("an empty sid", {"iss": "{issuer}", "sid": ""}),
        ("an over-long sid", {"iss": "{issuer}", "sid": "b" * 600}),
    ],
)
def test_front_channel_logout_that_names_no_session_of_ours_ends_nothing(
    direct: Direct, case: str, params: dict[str, str]
) -> None:
    bob = signed_in(direct.origin, "bob")
    query = {k: v.format(issuer=direct.idp.issuer) for k, v in params.items()}
    r = httpx.get(f"{direct.gateway.url}{PREFIX}/frontchannel_logout", params=query)
    assert r.status_code == 400, case
    assert nginx_check(direct.gateway, direct.origin, bob) == 200, case


# -- /frontchannel_logout, ID tokens with sid (the node IdP) -------------------------------------


@pytest.fixture(scope="module")
def node(module_tmp: Path) -> Iterator[tuple[NodeIdP, Gateway]]:
    port = free_port()
    idp = start_node_idp(
        module_tmp,
        client_id="authgate-test",
        client_secret="client-secret-for-tests",
        redirect_uris=[f"http://app.test:{port}{PREFIX}/callback"],
        post_logout_redirect_uris=[f"http://app.test:{port}{PREFIX}/signed_out"],
        # With a back-channel logout URI the node IdP puts sid in its ID tokens.
        backchannel_logout_uri=f"http://app.test:{port}{PREFIX}/backchannel_logout",
    )
    redis = start_redis(module_tmp, "redis-front")
    gw = start_gateway(module_tmp, gateway_env(idp.issuer, redis_url=redis.url), port=port)
    try:
        yield idp, gw
    finally:
        gw.proc.stop()
        redis.proc.stop()
        idp.stop()


def node_sign_in(b: Browser, origin: str) -> None:
    """Sign in as alice through the node IdP's form, straight at the gateway (no app behind it)."""
    r = b.follow(b.get(f"{origin}{PREFIX}/start?rd={origin}/"), sub="alice")
    assert str(r.request.url) == f"{origin}/" and session_cookie(b)


def test_front_channel_logout_by_sid_ends_that_idp_session_only(node: tuple[NodeIdP, Gateway]) -> None:
    idp, gw = node
    origin = f"http://app.test:{gw.port}"
    with Browser() as one, Browser() as two:
        for b in (one, two):  # two IdP sessions of alice, each with its own sid
            node_sign_in(b, origin)
        first, second = session_cookie(one), session_cookie(two)
    sids = [s["sid"] for s in idp.sessions() if s["sub"] == "alice"]
    assert len(set(sids)) == 2
    front = f"{gw.url}{PREFIX}/frontchannel_logout"
    # This issuer's ID tokens carry sid: the subject alone names nobody (anyone may know it).
    assert httpx.get(front, params={"iss": idp.issuer, "sid": "alice"}).status_code == 200
    assert [nginx_check(gw, origin, c) for c in (first, second)] == [200, 200]
    for sid in sids:
        assert httpx.get(front, params={"iss": idp.issuer, "sid": sid}).status_code == 200
    assert [nginx_check(gw, origin, c) for c in (first, second)] == [401, 401]


def test_sign_out_through_the_node_idp_comes_back_to_rd(node: tuple[NodeIdP, Gateway]) -> None:
    """The real round trip: the IdP accepts the registered /signed_out and hands state back."""
    idp, gw = node
    origin = f"http://app.test:{gw.port}"
    with Browser() as b:
        node_sign_in(b, origin)
        out = b.get(f"{origin}{PREFIX}/sign_out?rd={origin}/bye")
        assert out.headers["location"].startswith(f"{idp.issuer}/session/end?")
        back = follow_idp(b.http, out, idp)  # the IdP's sign-out confirmation, then its 303 back
        assert back.headers["location"].startswith(f"{origin}{PREFIX}/signed_out?state=")
        r = b.get(back.headers["location"])
    assert r.status_code == 302 and r.headers["location"] == f"{origin}/bye"
