"""LemonLDAP::NG 2.16, a certified OpenID provider set up as docs/identity-providers.md says, in
front of two authgate replicas behind nginx (the NPM snippet) and Traefik (forwardAuth).

What it does differently from Authentik and the node IdP, and what each test proves authgate does
with it: no ``sid`` in ID tokens and a front-channel (not back-channel) logout naming the user's
``sub``; name, email and groups only from userinfo, groups a string for one group and an array for
several; opaque access tokens; refresh tokens that never rotate; ``offline_access`` only with
``prompt=consent`` or a client that skips consent; ``offline_access`` missing from discovery.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.support.browser import NAV_HEADERS, Browser
from tests.support.cluster import Cluster, replicas_behind_nginx
from tests.support.flows import PREFIX, echoed_headers, session_cookie
from tests.support.lemonldap import (
    LemonLDAP,
    finish_logout_page,
    logout_iframes,
    start_lemonldap,
    through_portal,
    visit,
)
from tests.support.node_idp import parse_forms
from tests.support.procs import free_port, wait_for
from tests.support.servers import (
    Gateway,
    Redis,
    gateway_env,
    run_check,
    start_echo,
    start_gateway,
    start_redis,
    traefik_server,
)

pytestmark = pytest.mark.e2e

CLIENT_ID, CLIENT_SECRET = "authgate-test", "client-secret-for-tests"
ACCESS_TTL = 2  # seconds: refreshed after 1 s (half the token's life)
RULES = '[[apps]]\nhost = "app.test"\nrules = [{ path = "^/tardis", groups = ["timelords"] }]\n'


@dataclass
class World:
    llng: LemonLDAP
    cluster: Cluster
    traefik_port: int
    redis: Redis

    @property
    def origins(self) -> dict[str, str]:
        return {"nginx": self.cluster.origin, "traefik": f"http://app.test:{self.traefik_port}"}


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    redis = start_redis(module_tmp, "redis-lemonldap")
    echo, echo_port = start_echo(module_tmp)
    app_port, lb_port, traefik_port = free_port(), free_port(), free_port()
    origins = [f"http://app.test:{p}" for p in (app_port, traefik_port)]
    llng = start_lemonldap(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{o}{PREFIX}/callback" for o in origins],
        post_logout_redirect_uris=[f"{o}{PREFIX}/signed_out" for o in origins],
        frontchannel_logout_uri=f"{origins[0]}{PREFIX}/frontchannel_logout",
        rp_options={"oidcRPMetaDataOptionsAccessTokenExpiration": ACCESS_TTL},
    )
    rules = module_tmp / "lemonldap-apps.toml"
    rules.write_text(RULES)
    env = gateway_env(
        llng.issuer,
        redis_url=redis.url,
        backchannel_url=llng.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        config=str(rules),
    )
    try:
        with (
            replicas_behind_nginx(
                module_tmp, env, echo_port=echo_port, count=2, app_port=app_port, lb_port=lb_port
            ) as cluster,
            traefik_server(
                module_tmp, gateway_url=f"http://127.0.0.1:{lb_port}", app_port=echo_port, port=traefik_port
            ),
        ):
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{traefik_port}/", headers={"Host": "app.test"}).status_code != 404,
                what="Traefik routes",
            )
            yield World(llng, cluster, traefik_port, redis)
    finally:
        llng.stop()
        echo.stop()
        redis.proc.stop()


def userinfo(world: World, access_token: str) -> dict[str, Any]:
    """The IdP's own userinfo answer for an access token (what authgate read the claims from)."""
    r = httpx.get(f"{world.llng.url}/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


# -- check ----------------------------------------------------------------------------------------


def test_check_passes_the_documented_setup_and_says_what_it_found(world: World) -> None:
    code, out = run_check(world.cluster.env)
    assert code == 0, out
    assert "FAIL" not in out
    # Discovery lists no offline_access scope, but the refresh_token grant: a warning, nothing more.
    assert "which the IdP does not list (scopes_supported), but it offers the refresh_token grant" in out
    assert "no refresh tokens" not in out
    assert "the IdP offers front-channel logout (no back-channel)" in out
    assert "neither back-channel nor front-channel" not in out
    assert f"comes back to https://<host>{PREFIX}/signed_out" in out


def test_check_explains_a_wrong_client_secret(world: World) -> None:
    code, out = run_check({**world.cluster.env, "AUTHGATE_CLIENT_SECRET": "not-the-secret-of-this-client"})
    assert code == 1
    assert "FAIL the IdP refused the client credentials (invalid_client)" in out


# -- the core stories, through nginx and Traefik ---------------------------------------------------


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_sign_in_and_identity_headers_with_groups_from_userinfo(world: World, proxy: str) -> None:
    origin = world.origins[proxy]
    with Browser() as b:
        r = visit(b, world.llng, f"{origin}/hello", user="dwho")
        assert r.status_code == 200, r.text[:300]
        seen = echoed_headers(r)
    assert seen["x-authentik-username"] == "dwho" and seen["x-authentik-uid"] == "dwho"
    assert seen["x-authentik-email"] == "dwho@badwolf.org"
    assert seen["x-authentik-name"] == "Doctor Who"
    assert set(seen["x-authentik-groups"].split("|")) == {"timelords", "users"}
    # The access token is opaque (no JWT unless the RP's JWT access-token option is on) ...
    token = seen["x-authentik-jwt"]
    assert token.count(".") == 0
    # ... and the claims came from userinfo: several groups there are an array.
    assert sorted(userinfo(world, token)["groups"]) == ["timelords", "users"]


def test_one_group_arrives_as_a_string_and_is_one_group(world: World) -> None:
    with Browser() as b:
        r = visit(b, world.llng, f"{world.cluster.origin}/", user="rtyler")
        seen = echoed_headers(r)
    assert userinfo(world, seen["x-authentik-jwt"])["groups"] == "earthlings"
    assert seen["x-authentik-groups"] == "earthlings"
    assert seen["x-auth-request-groups"] == "earthlings"


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_a_group_rule_admits_the_group_and_refuses_the_others(world: World, proxy: str) -> None:
    origin = world.origins[proxy]
    for user, status in (("dwho", 200), ("rtyler", 403)):
        with Browser() as b:
            assert visit(b, world.llng, f"{origin}/", user=user).status_code == 200
            assert b.get(f"{origin}/tardis").status_code == status, user


def test_three_refreshes_of_a_token_that_never_rotates_without_a_redirect(world: World) -> None:
    """LemonLDAP::NG answers a refresh with no new refresh token: the first one stays in use."""
    with Browser() as b:
        r = visit(b, world.llng, f"{world.cluster.origin}/", user="dwho")
        tokens = [echoed_headers(r)["x-authentik-jwt"]]
        before = world.llng.token_requests()
        for _ in range(3):
            wait_for(lambda: _refreshed(b, world, tokens), timeout=ACCESS_TTL * 5, what="a refreshed access token")
    assert len(set(tokens)) == 4
    assert world.llng.token_requests() - before == 3


def _refreshed(b: Browser, world: World, tokens: list[str]) -> bool:
    r = b.get(f"{world.cluster.origin}/")
    assert r.status_code == 200, "a refresh must never send the browser anywhere"
    token = echoed_headers(r)["x-authentik-jwt"]
    if token == tokens[-1]:
        return False
    tokens.append(token)
    return True


def test_a_sign_in_started_on_one_replica_finishes_on_the_other(world: World) -> None:
    origin, host = world.cluster.origin, f"app.test:{world.cluster.app_port}"
    first, second = (g.url for g in world.cluster.replicas)
    with Browser() as b, httpx.Client() as direct:
        start = direct.get(f"{first}{PREFIX}/start", params={"rd": f"{origin}/other"}, headers={"Host": host})
        assert start.status_code == 302
        login_cookie = start.headers["set-cookie"].split(";")[0]
        back = through_portal(b, world.llng, b.get(start.headers["location"]), user="dwho")
        callback = httpx.URL(back.headers["location"])
        assert callback.path == f"{PREFIX}/callback"
        done = direct.get(
            f"{second}{callback.raw_path.decode()}", headers={**NAV_HEADERS, "Host": host, "Cookie": login_cookie}
        )
    assert done.status_code == 302 and done.headers["location"] == f"{origin}/other"
    session = done.headers["set-cookie"].split(";")[0]
    r = httpx.get(f"http://127.0.0.1:{world.cluster.app_port}/", headers={"Host": host, "Cookie": session})
    assert r.status_code == 200 and echoed_headers(r)["x-authentik-username"] == "dwho"


# -- signing out ----------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_sign_out_ends_at_the_idp_and_comes_back_to_rd(world: World, proxy: str) -> None:
    origin = world.origins[proxy]
    with Browser() as b:
        assert visit(b, world.llng, f"{origin}/", user="msmith").status_code == 200
        cookie = session_cookie(b)
        out = b.get(f"{origin}{PREFIX}/sign_out?rd={origin}/bye")
        assert out.headers["location"].startswith(f"{world.llng.origin}/oauth2/logout?")
        # The IdP accepts the one registered return address, ends its session, and hands state back.
        page = b.get(out.headers["location"])
        # Its page calls the front-channel logout URIs in iframes, then its script submits a form to
        # the return address with state.
        assert [urlsplit(src).path for src in logout_iframes(page)] == [f"{PREFIX}/frontchannel_logout"]
        r = finish_logout_page(b, page)
        assert r is not None and str(r.url).startswith(f"{origin}{PREFIX}/signed_out?state=")
        assert r.status_code == 302 and r.headers["location"] == f"{origin}/bye"
        # Signed out at the IdP too: the next visit asks for the password again.
        form = visit(b, world.llng, f"{origin}/bye", user=None)
        assert str(form.url).startswith(world.llng.origin) and 'name="password"' in form.text
    host = origin.removeprefix("http://")
    port = host.rsplit(":", 1)[1]
    stale = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host, "Cookie": cookie, "Accept": "text/html"})
    assert stale.status_code in (302, 401)


def test_signing_out_at_the_portal_ends_every_session_of_that_user_by_front_channel(world: World) -> None:
    """LemonLDAP::NG has no back-channel logout: its logout page loads each RP's front-channel logout
    URI in an iframe, with iss and sid = the user's sub (its ID tokens carry no sid)."""
    with Browser() as laptop, Browser() as phone, Browser() as rose:
        assert visit(laptop, world.llng, f"{world.origins['nginx']}/", user="dwho").status_code == 200
        assert visit(phone, world.llng, f"{world.origins['traefik']}/", user="dwho").status_code == 200
        assert visit(rose, world.llng, f"{world.origins['nginx']}/", user="rtyler").status_code == 200
        page = laptop.get(f"{world.llng.origin}/?logout=1")
        frames = logout_iframes(page)
        assert frames == [
            f"{world.origins['nginx']}{PREFIX}/frontchannel_logout?iss={_q(world.llng.issuer)}&sid=dwho"
        ], page.text[-2000:]
        # A browser loads the iframe cross-site: no cookie of the app goes with it.
        with Browser() as iframe:
            r = iframe.get(frames[0], headers={"Sec-Fetch-Dest": "iframe"})
        assert r.status_code == 200
        assert "x-frame-options" not in r.headers
        # dwho is signed out on every device, through either proxy; rtyler is not.
        assert laptop.get(f"{world.origins['nginx']}/").status_code == 302
        assert phone.get(f"{world.origins['traefik']}/").status_code == 302
        assert rose.get(f"{world.origins['nginx']}/").status_code == 200


def _q(value: str) -> str:
    return quote(value, safe="")


# -- offline_access and consent (its own IdP: a client that does not skip consent) ----------------


@dataclass
class Direct:
    llng: LemonLDAP
    gateway: Gateway

    @property
    def origin(self) -> str:
        return f"http://app.test:{self.gateway.port}"


@contextlib.contextmanager
def direct(tmp_path: Path, rp_options: dict[str, object], **env: str) -> Iterator[Direct]:
    """One replica and LemonLDAP::NG with these RP options, the replica's settings with ``env``."""
    port = free_port()
    llng = start_lemonldap(
        tmp_path,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://app.test:{port}{PREFIX}/callback"],
        rp_options=rp_options,
    )
    settings = gateway_env(
        llng.issuer, backchannel_url=llng.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **env
    )
    gateway = start_gateway(tmp_path, settings, port=port)
    try:
        yield Direct(llng, gateway)
    finally:
        gateway.proc.stop()
        llng.stop()


@pytest.fixture
def consenting(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Direct]:
    # LemonLDAP::NG's defaults: consent asked, no online refresh tokens (only offline ones).
    options = {
        "oidcRPMetaDataOptionsBypassConsent": 0,
        "oidcRPMetaDataOptionsRefreshToken": 0,
        "oidcRPMetaDataOptionsAccessTokenExpiration": ACCESS_TTL,
    }
    with direct(tmp_path, options, **({"prompt": request.param} if request.param else {})) as world:
        yield world


def _consented_sign_in(direct: Direct) -> tuple[Browser, str]:
    b = Browser()
    start = b.get(f"{direct.origin}{PREFIX}/start?rd={direct.origin}/")
    back = through_portal(b, direct.llng, b.get(start.headers["location"]), user="dwho")
    consent_pages = [h for h in b.history if h.status_code == 200 and "confirm" in _post_fields(h)]
    assert consent_pages, "the portal asked for consent (the client does not skip it)"
    done = b.get(back.headers["location"])
    assert done.status_code == 302
    return b, session_cookie(b)


def _post_fields(page: httpx.Response) -> set[str]:
    return {name for f in parse_forms(page.text) if f["method"] == "post" for name in f["fields"]}


def _check(direct: Direct, cookie: str) -> httpx.Response:
    headers = {"X-Original-URL": f"{direct.origin}/", "Cookie": cookie}
    return httpx.get(f"{direct.gateway.url}{PREFIX}/auth/nginx", headers=headers)


@pytest.mark.parametrize("consenting", [""], indirect=True)
def test_without_prompt_consent_no_refresh_token_and_authgate_says_so(consenting: Direct) -> None:
    b, cookie = _consented_sign_in(consenting)
    b.close()
    wait_for(lambda: "issued no refresh token" in consenting.gateway.proc.log(), what="the warning", timeout=5)
    assert "set AUTHGATE_PROMPT=consent" in consenting.gateway.proc.log()
    first = _check(consenting, cookie).headers["x-authentik-jwt"]
    # Past the token's expiry the session still passes, and never asks the IdP again.
    signed_in = time.monotonic()
    wait_for(lambda: time.monotonic() > signed_in + ACCESS_TTL + 0.5, timeout=ACCESS_TTL + 3, what="expiry")
    r = _check(consenting, cookie)
    assert r.status_code == 200 and r.headers["x-authentik-jwt"] == first
    assert consenting.llng.token_requests() == 1


@pytest.mark.parametrize("consenting", ["consent"], indirect=True)
def test_with_prompt_consent_offline_access_brings_a_refresh_token(consenting: Direct) -> None:
    b, cookie = _consented_sign_in(consenting)
    b.close()
    first = _check(consenting, cookie).headers["x-authentik-jwt"]
    wait_for(lambda: _check(consenting, cookie).headers.get("x-authentik-jwt") != first, timeout=10, what="a refresh")
    assert consenting.llng.token_requests() == 2
    assert "issued no refresh token" not in consenting.gateway.proc.log()


# -- without offline_access: online refresh tokens follow the portal session ----------------------


@pytest.fixture
def online(tmp_path: Path) -> Iterator[Direct]:
    options = {"oidcRPMetaDataOptionsAccessTokenExpiration": ACCESS_TTL}
    with direct(tmp_path, options, scopes="openid email profile") as world:
        yield world


def test_without_offline_access_a_portal_sign_out_ends_the_session_at_its_next_refresh(online: Direct) -> None:
    """No front-channel call reaches authgate here (the iframe is never loaded): the "online" refresh
    token dies with the portal session, and the refresh that follows ends authgate's session."""
    with Browser() as b:
        start = b.get(f"{online.origin}{PREFIX}/start?rd={online.origin}/")
        back = through_portal(b, online.llng, b.get(start.headers["location"]), user="dwho")
        assert b.get(back.headers["location"]).status_code == 302
        cookie = session_cookie(b)
        assert _check(online, cookie).status_code == 200
        b.get(f"{online.llng.origin}/?logout=1")  # the portal's own sign-out, iframes not loaded
    wait_for(lambda: _check(online, cookie).status_code == 401, timeout=ACCESS_TTL * 5, what="the session to end")
    assert "reason=invalid_grant session_ended=true" in online.gateway.proc.log()


# -- bearer header auth needs JWT access tokens ---------------------------------------------------


@pytest.fixture
def jwt_tokens(tmp_path: Path) -> Iterator[Direct]:
    with direct(tmp_path, {"oidcRPMetaDataOptionsAccessTokenJWT": 1}, header_auth="bearer") as world:
        yield world


def test_bearer_header_auth_takes_the_jwt_access_tokens_of_the_rp_option(jwt_tokens: Direct) -> None:
    with Browser() as b:
        start = b.get(f"{jwt_tokens.origin}{PREFIX}/start?rd={jwt_tokens.origin}/")
        back = through_portal(b, jwt_tokens.llng, b.get(start.headers["location"]), user="dwho")
        assert b.get(back.headers["location"]).status_code == 302
        token = _check(jwt_tokens, session_cookie(b)).headers["x-authentik-jwt"]
    assert token.count(".") == 2, "the RP's JWT access-token option"
    headers = {"X-Original-URL": f"{jwt_tokens.origin}/api", "Authorization": f"Bearer {token}"}
    r = httpx.get(f"{jwt_tokens.gateway.url}{PREFIX}/auth/nginx", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["x-authentik-username"] == "dwho"
