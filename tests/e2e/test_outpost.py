"""Outpost mode end to end: "swap the image" against a fake Authentik, through nginx and through Traefik.

Per proxy: the fake Authentik (tests/support/fake_authentik.py: Authentik's outpost API and WebSocket,
its OIDC side played by the node IdP with Proxy-provider clients signing HS256 with their secret), Redis,
two authgate replicas configured as Authentik's outpost container is (``AUTHENTIK_HOST``,
``AUTHENTIK_TOKEN``, ``AUTHENTIK_HOST_BROWSER``; no ``AUTHGATE_SECRET``, no issuer, no rules file)
behind a round-robin balancer, and the proxy in front of an echo app. Each provider's external host is
on the proxy's port, and the only redirect URI its client has is Authentik's
``<external_host>/outpost.goauthentik.io/callback?X-authentik-auth-callback=true``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import httpx
import pytest
import redis

from tests.support.authentik_idp import App, AuthentikIdP, start_authentik_idp
from tests.support.browser import Browser, _is_idp_form
from tests.support.cluster import balancer_block
from tests.support.fake_authentik import FakeAuthentik, start_fake_authentik
from tests.support.flows import echoed_headers
from tests.support.procs import Proc, free_port, wait_for
from tests.support.servers import Gateway, nginx_server, start_echo, start_gateway, start_redis, traefik_server

pytestmark = pytest.mark.e2e

SLUGS = ("app1", "app2", "app3")  # app3 is added at run time
#: A forward_domain provider (added in its own test): every host under dom.test, signed in at auth.dom.test.
DOMAIN_SLUG, COOKIE_DOMAIN = "dom", "dom.test"
DOMAIN_HOSTS = ("auth.dom.test", "grafana.dom.test", "wiki.dom.test")
#: Each provider's own settings, as an admin sets them in Authentik: app1 sends the app HTTP Basic
#: credentials from alice's attributes; app2's tokens (and so its sessions) are valid for 10 minutes.
SETTINGS: dict[str, dict[str, Any]] = {
    "app1": {
        "basic_auth_enabled": True,
        "basic_auth_user_attribute": "app_username",
        "basic_auth_password_attribute": "app_password",
        "access_token_validity": 86400.0,
    },
    "app2": {"access_token_validity": 600.0},
}
TOKEN = "outpost-token-" + "k3J9sQ2vX8mN4pL7wR1tY6uB0cE5hA"
CALLBACK = "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
NAV = {"Accept": "text/html"}
#: TriggerUpdate is acted on after the replica's own 0-9 s offset (as the outpost does); hellos come every 10 s.
FOLLOW_TIMEOUT = 30.0


def secret_of(slug: str) -> str:
    return f"secret-{slug}-0123456789abcdef0123"


@dataclass
class World:
    proxy: str
    port: int
    idp: AuthentikIdP
    fake: FakeAuthentik
    replicas: list[Gateway]
    env: dict[str, str]
    tmp: Path

    def url(self, slug: str, path: str = "/") -> str:
        return f"http://{slug}.test:{self.port}{path}"

    def provider(self, slug: str, **changes: Any) -> dict[str, Any]:
        return {
            "pk": (*SLUGS, DOMAIN_SLUG).index(slug) + 1,
            "name": f"{slug.title()} provider",
            "app_name": slug.title(),
            "slug": slug,
            "client_id": f"client-{slug}",
            "client_secret": secret_of(slug),
            "external_host": f"http://{slug}.test:{self.port}",
            "mode": "forward_single",
            **SETTINGS.get(slug, {}),
            **changes,
        }

    def domain_provider(self) -> dict[str, Any]:
        external = f"http://{DOMAIN_HOSTS[0]}:{self.port}"
        return self.provider(DOMAIN_SLUG, mode="forward_domain", cookie_domain=COOKIE_DOMAIN, external_host=external)

    def served(self, replica: Gateway) -> list[str]:
        ready = httpx.get(f"{replica.url}/readyz").json()
        return list(ready.get("outpost", {}).get("served", []))

    def every_replica_serves(self, hosts: set[str]) -> bool:
        return all(set(self.served(r)) == hosts for r in self.replicas)


@pytest.fixture(scope="module", params=["nginx", "traefik"])
def world(request: pytest.FixtureRequest, module_tmp: Path) -> Iterator[World]:
    proxy = str(request.param)
    tmp = module_tmp / proxy
    tmp.mkdir()
    port, fake_port, lb_port = free_port(), free_port(), free_port()
    # As Authentik's Proxy providers: ID tokens signed HS256 with the client secret. They carry `sid`, as
    # Authentik's always do; oidc-provider puts it in only for a client with a back-channel logout URI.
    hs256 = {"id_token_signed_response_alg": "HS256"}
    backchannel = f"http://127.0.0.1:{lb_port}/outpost.goauthentik.io/backchannel_logout"
    external = {s: f"http://{s}.test:{port}" for s in SLUGS} | {DOMAIN_SLUG: f"http://{DOMAIN_HOSTS[0]}:{port}"}
    apps = [
        App(
            s,
            f"client-{s}",
            secret_of(s),
            redirect_uris=[f"{host}{CALLBACK}"],
            backchannel_logout_uri=backchannel,
            extra=hs256,
        )
        for s, host in external.items()
    ]
    idp = start_authentik_idp(tmp, apps, base=f"http://auth.test:{fake_port}")
    fake = start_fake_authentik(tmp, idp.url, TOKEN, port=fake_port)
    redis = start_redis(tmp, f"redis-outpost-{proxy}")
    echo, echo_port = start_echo(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "AUTHENTIK_"))}
    # Exactly the outpost's variables (its compose file), plus Redis for the two replicas.
    env |= {
        "AUTHENTIK_HOST": fake.url,
        "AUTHENTIK_TOKEN": TOKEN,
        "AUTHENTIK_INSECURE": "false",
        "AUTHENTIK_HOST_BROWSER": fake.browser_url,
        "AUTHGATE_REDIS_URL": redis.url,
        "PYTHONUNBUFFERED": "1",
    }
    w = World(proxy, port, idp, fake, [], env, tmp)
    fake.set_providers([w.provider("app1"), w.provider("app2")])
    w.replicas = [start_gateway(tmp, env, name=f"outpost-{proxy}-{i}") for i in range(2)]
    procs: list[Proc] = [fake.proc, redis.proc, echo]
    hosts = " ".join([*(f"{s}.test" for s in SLUGS), *DOMAIN_HOSTS])
    try:
        wait_for(lambda: w.every_replica_serves({"app1.test", "app2.test"}), timeout=FOLLOW_TIMEOUT, what="providers")
        extra = balancer_block([r.port for r in w.replicas], lb_port)
        with nginx_server(
            tmp,
            gateway_url="http://authgate_replicas",
            app_port=echo_port,
            port=port if proxy == "nginx" else free_port(),
            server_name=hosts,
            extra_http=extra,
            wait_ports=(lb_port,),
        ):
            if proxy == "nginx":
                yield w
            else:
                rule = "(" + " || ".join(f"Host(`{h}`)" for h in hosts.split()) + ")"
                with traefik_server(
                    tmp,
                    gateway_url=f"http://127.0.0.1:{lb_port}",
                    app_port=echo_port,
                    port=port,
                    host="outpost.test",
                    replacements={"Host(`outpost.test`)": rule},
                ):
                    ping = f"http://127.0.0.1:{port}/outpost.goauthentik.io/ping"
                    # Traefik listens before it has read its routers: until then, everything is 404.
                    wait_for(lambda: httpx.get(ping, headers={"Host": "app1.test"}).status_code != 404, what="Traefik")
                    yield w
    finally:
        for replica in w.replicas:
            replica.proc.stop()
        idp.stop()
        for proc in reversed(procs):
            proc.stop()


def sign_in(b: Browser, w: World, slug: str, path: str = "/page") -> httpx.Response:
    return b.visit(w.url(slug, path))


def test_two_providers_sign_alice_in_with_their_own_clients_and_authentiks_redirect_uri(world: World) -> None:
    discovery = httpx.get(f"{world.fake.url}/application/o/app1/.well-known/openid-configuration")
    assert discovery.json()["id_token_signing_alg_values_supported"] == ["HS256"], "a Proxy provider's discovery"
    before = {k: int(v) for k, v in world.idp.counts().items()}
    with Browser() as b:
        for slug in ("app1", "app2"):
            r = sign_in(b, world, slug)
            assert r.status_code == 200, (slug, r.status_code, r.text[:300])
            seen = echoed_headers(r)
            assert seen["x-authentik-username"] == "alice"
            assert seen["x-authentik-meta-app"] == slug
            assert seen["x-authentik-meta-provider"] == f"{slug.title()} provider", "the provider's name"
            assert seen["x-authentik-meta-outpost"] == "authgate-outpost", "the outpost's name in Authentik"
            authorize = next(
                h
                for h in reversed(b.history)
                if urlsplit(h.headers.get("location", "")).path == "/application/o/authorize/"
            )
            location = authorize.headers["location"]
            assert urlsplit(location).netloc == f"auth.test:{world.fake.port}", "the browser's Authentik address"
            query = parse_qs(urlsplit(location).query)
            assert query["client_id"] == [f"client-{slug}"]
            assert query["redirect_uri"] == [f"http://{slug}.test:{world.port}{CALLBACK}"]
    after = {k: int(v) for k, v in world.idp.counts().items()}
    for slug in ("app1", "app2"):
        key = f"authorization_code@client-{slug}"
        assert after.get(key, 0) == before.get(key, 0) + 1, (key, after)


def session_cookie_header(b: Browser) -> str:
    """The Set-Cookie of the session cookie the callback set (the last sign-in in ``b``)."""
    return next(
        v
        for r in reversed(b.history)
        for v in r.headers.get_list("set-cookie")
        if v.startswith("authgate_session=") and "max-age=0" not in v.lower()
    )


def max_age(set_cookie: str) -> int:
    return int(next(p.split("=", 1)[1] for p in set_cookie.split(";") if p.strip().lower().startswith("max-age")))


def test_each_provider_sends_its_own_basic_credentials_and_bounds_its_sessions(world: World) -> None:
    """app1 has HTTP-Basic authentication on (user and password attributes of alice's ak_proxy claim);
    app2 has not, and its access_token_validity (600 s) bounds its sessions and cookie."""
    w = world
    with Browser() as b:
        r = sign_in(b, w, "app1")
        assert r.status_code == 200
        credentials = base64.b64encode(b"alice-wiki:wiki-pass:word").decode()
        assert echoed_headers(r).get("authorization") == f"Basic {credentials}", "app1's own attributes"
        assert max_age(session_cookie_header(b)) == 86400, "app1's access_token_validity"
        r = sign_in(b, w, "app2")
        assert r.status_code == 200 and "authorization" not in echoed_headers(r), "app2 sends none"
        assert max_age(session_cookie_header(b)) == 600, "app2's access_token_validity bounds its cookie"
        # The session itself ends with it too: its key in Redis lives 600 s at most.
        client = redis.Redis.from_url(w.env["AUTHGATE_REDIS_URL"])
        ttls = [client.ttl(k) for k in client.scan_iter("ag:{*}:s")]
        assert any(0 < t <= 600 for t in ttls) and max(ttls) <= 86400, ttls
        # A client's own Authorization header never reaches app1 (the IdP's credentials replace it),
        # and passes on to app2 as it is.
        mine = {"Authorization": "Bearer the-clients-own"}
        assert echoed_headers(b.get(w.url("app1"), headers=mine))["authorization"] == f"Basic {credentials}"
        assert echoed_headers(b.get(w.url("app2"), headers=mine))["authorization"] == "Bearer the-clients-own"


def test_a_forward_domain_provider_serves_every_host_under_its_cookie_domain(world: World) -> None:
    w = world
    # Unauthenticated paths, matched on the whole URL as the outpost matches them in this mode: a
    # regex written for the path (^/open/) matches no URL; a query never opens a page (/feed/).
    skip = f"^http://wiki\\.dom\\.test:{w.port}/public/\n^/open/\n/feed/"
    dom = {**w.domain_provider(), "skip_path_regex": skip}
    w.fake.set_providers([w.provider("app1"), w.provider("app2"), dom])
    origin = {h: f"http://{h}:{w.port}" for h in DOMAIN_HOSTS}
    try:
        wait_for(lambda: w.every_replica_serves({"app1.test", "app2.test", DOMAIN_HOSTS[0]}), timeout=FOLLOW_TIMEOUT)
        wiki, grafana = origin["wiki.dom.test"], origin["grafana.dom.test"]
        for url, public in [
            (f"{wiki}/public/a.png", True),
            (f"{grafana}/public/a.png", False),  # another host: the regex names wiki's URL
            (f"{wiki}/open/x", False),
            (f"{grafana}/feed/rss", True),
            (f"{grafana}/admin?next=/feed/", False),
            (f"{wiki}/public/../admin", False),
        ]:
            with Browser() as anonymous:
                r = anonymous.get(url, headers=NAV)
            assert (r.status_code == 200) is public, (url, r.status_code)
            if public:
                assert json.loads(r.content)["path"] == urlsplit(url).path, "what the app served"
        before = int(w.idp.counts().get("authorization_code@client-dom", 0))
        with Browser() as b:
            r = b.visit(f"{origin['grafana.dom.test']}/page?x=1")
            assert r.status_code == 200, (r.status_code, r.text[:300])
            assert str(r.request.url) == f"{origin['grafana.dom.test']}/page?x=1", "back to the original URL"
            seen = echoed_headers(r)
            assert seen["x-authentik-username"] == "alice" and seen["x-authentik-meta-provider"] == "Dom provider"
            authorize = next(h for h in b.history if "/application/o/authorize/" in h.headers.get("location", ""))
            query = parse_qs(urlsplit(authorize.headers["location"]).query)
            assert query["redirect_uri"] == [f"{origin['auth.dom.test']}{CALLBACK}"], "the external host's callback"
            cookie = session_cookie_header(b)
            assert f"domain={COOKIE_DOMAIN}" in cookie.lower(), cookie
            # Every other host under the cookie domain: signed in already, on every replica.
            for _ in w.replicas:
                other = b.get(f"{origin['wiki.dom.test']}/")
                assert other.status_code == 200 and echoed_headers(other)["x-authentik-username"] == "alice"
            assert int(w.idp.counts()["authorization_code@client-dom"]) == before + 1, "one sign-in for all"
            # A forward_single provider beside it keeps its own client and sessions.
            assert b.get(w.url("app1")).status_code in (302, 401)
        # Redirect validation: a sign-in may return only inside the provider's cookie domain.
        with Browser() as b:
            inside = quote(f"{origin['wiki.dom.test']}/x", safe="")
            start = b.get(f"{origin['grafana.dom.test']}/outpost.goauthentik.io/start?rd={inside}")
            assert start.status_code == 302 and "/application/o/authorize/" in start.headers["location"]
            for away in (w.url("app1"), "http://evil.test/", f"http://evildom.test:{w.port}/"):
                bad = b.get(f"{origin['auth.dom.test']}/outpost.goauthentik.io/start?rd={quote(away, safe='')}")
                assert bad.status_code == 400, (away, bad.status_code)
    finally:
        w.fake.set_providers([w.provider("app1"), w.provider("app2")])
        wait_for(lambda: w.every_replica_serves({"app1.test", "app2.test"}), timeout=FOLLOW_TIMEOUT)


def until_callback(b: Browser, response: httpx.Response) -> httpx.Response:
    """Follow a sign-in to the IdP (signing alice in there), stopping at its redirect to the callback."""
    for _ in range(15):
        location = response.headers.get("location", "")
        if "/outpost.goauthentik.io/callback" in location:
            return response
        url = str(response.request.url)
        if location:
            response = b.get(urljoin(url, location))
        elif _is_idp_form(response):
            response = b.http.post(url, data={"sub": "alice"}, headers=NAV)
        else:
            raise AssertionError(f"no redirect to the callback: {response.status_code} at {url}")
    raise AssertionError("no redirect to the callback")


def test_the_callback_query_on_any_path_is_answered_by_the_callback(world: World) -> None:
    """The outpost answers ``?X-authentik-auth-callback=true`` on any path as its callback. Through
    Traefik authgate does too (its state check decides, nothing reaches the app); nginx's auth_request
    cannot hand a redirect on, so there it is an ordinary page check."""
    w = world
    with Browser() as b:
        bare = b.get(w.url("app1", "/any/page?X-authentik-auth-callback=true&state=forged&code=forged"))
        assert "path" not in bare.text, "never the app"
        if w.proxy == "nginx":
            assert bare.status_code == 302 and "/outpost.goauthentik.io/start" in bare.headers["location"]
            return
        assert bare.status_code == 400 and "expired" in bare.text, "the callback's own refusal"
        # A whole sign-in coming back on another path: the same code as /callback, given the login cookie
        # (the browser sends it only under the gateway's prefix, where Authentik's redirect URI points).
        back = until_callback(b, b.get(w.url("app1", "/landing")))
        query = urlsplit(back.headers["location"]).query
        login = "; ".join(f"{c.name}={c.value}" for c in b.http.cookies.jar if "_login_" in c.name)
        done = b.get(w.url("app1", f"/elsewhere?{query}"), headers={"Cookie": login})
        assert done.status_code == 302 and done.headers["location"] == w.url("app1", "/landing")
        assert any(v.startswith("authgate_session=") for v in done.headers.get_list("set-cookie"))
        page = b.get(w.url("app1", "/landing"))
        assert page.status_code == 200 and json.loads(page.content)["path"] == "/landing"


def test_the_logout_query_and_sign_out_end_the_users_sessions_of_that_provider_everywhere(world: World) -> None:
    """The outpost signs out on ``?X-authentik-logout=true`` on any path (its Traefik and Caddy
    checks), and its sign-out ends every session of the user with that provider, on every device.
    Through Traefik the query signs out; through nginx it is a page check, and /sign_out is the way."""
    w = world
    with Browser() as laptop, Browser() as phone:
        for device in (laptop, phone):
            assert sign_in(device, w, "app1").status_code == 200
        assert sign_in(laptop, w, "app2").status_code == 200
        jar = laptop.http.cookies.jar
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar if c.name.startswith("authgate_session"))
        # The page's own query (an rd of the app's, here pointing away) is the app's, not the sign-out's.
        uri = "/any/page?rd=http%3A%2F%2Fevil.test%2F&X-authentik-logout=true"
        page = laptop.get(w.url("app1", uri))
        if w.proxy == "nginx":
            assert page.status_code == 200 and json.loads(page.content)["path"] == uri
            bye = laptop.get(w.url("app1", "/outpost.goauthentik.io/sign_out"))
        else:
            bye = page
        assert bye.status_code == 302 and "path" not in bye.text, "never the app"
        assert "id_token_hint=" in bye.headers["location"], "on to the IdP's end-session endpoint"
        assert any("max-age=0" in v.lower() for v in bye.headers.get_list("set-cookie")), "the cookie is cleared"
        for _ in w.replicas:
            assert phone.get(w.url("app1")).status_code in (302, 401), "the phone's session of app1 ended too"
            assert laptop.get(w.url("app2")).status_code == 200, "another provider's session is its own"
    # The session is gone from the store: a copy of the old cookie opens nothing, on any replica.
    with Browser() as again:
        for _ in w.replicas:
            assert again.get(w.url("app1"), headers={"Cookie": cookie}).status_code in (302, 401)


def test_every_replica_says_hello_to_authentik(world: World) -> None:
    def hellos() -> dict[str, dict[str, Any]]:
        return {k: v for k, v in world.fake.hellos().items() if v.get("hellos", 0) >= 2}

    wait_for(lambda: len(hellos()) >= 2, timeout=FOLLOW_TIMEOUT, what="two hellos from each replica")
    for uid, seen in hellos().items():
        assert seen["build_hash"].startswith("authgate-"), "authgate's own build hash: never 'outdated'"
        assert seen["version"] and seen["hostname"]
        assert seen["args"]["uuid"] == uid


def test_a_provider_added_changed_and_removed_at_run_time(world: World) -> None:
    w = world
    b = Browser()
    try:
        assert b.get(w.url("app3")).status_code == 403, "no provider serves app3.test yet"
        assert sign_in(b, w, "app2").status_code == 200
        # Added: every replica serves it within seconds, no restart.
        w.fake.set_providers([w.provider("app1"), w.provider("app2"), w.provider("app3")])
        wait_for(lambda: w.every_replica_serves({"app1.test", "app2.test", "app3.test"}), timeout=FOLLOW_TIMEOUT)
        r = sign_in(b, w, "app3")
        assert r.status_code == 200 and echoed_headers(r)["x-authentik-meta-app"] == "app3"
        # Changed: a public path (skip_path_regex) and a new client secret take effect.
        public = w.provider("app1", skip_path_regex="^/status/\n^/health$")
        w.fake.set_providers(
            [public, w.provider("app2", client_secret="rotated-but-not-at-the-idp"), w.provider("app3")]
        )

        def anonymous(path: str) -> int:
            return httpx.get(
                w.url("app1", path).replace("app1.test", "127.0.0.1"), headers={"Host": f"app1.test:{w.port}"}
            ).status_code

        wait_for(lambda: all(anonymous("/status/x") == 200 for _ in w.replicas), timeout=FOLLOW_TIMEOUT)
        assert anonymous("/private") in (302, 401), "only the listed paths are public"

        def app2_sign_in_fails() -> bool:
            with Browser() as fresh:
                return sign_in(fresh, w, "app2").status_code != 200

        wait_for(lambda: app2_sign_in_fails() and app2_sign_in_fails(), timeout=FOLLOW_TIMEOUT, what="new secret")
        # Removed: the host is refused at once, a session there included.
        w.fake.set_providers([public, w.provider("app3")])
        wait_for(lambda: w.every_replica_serves({"app1.test", "app3.test"}), timeout=FOLLOW_TIMEOUT)
        for _ in w.replicas:
            assert b.get(w.url("app2")).status_code == 403
        assert b.get(w.url("app3")).status_code == 200
    finally:
        b.close()
        w.fake.set_providers([w.provider("app1"), w.provider("app2")])
        wait_for(lambda: w.every_replica_serves({"app1.test", "app2.test"}), timeout=FOLLOW_TIMEOUT)


@pytest.mark.parametrize("as_provider", [False, True], ids=["SessionEnd", "the provider's logout"])
def test_session_end_from_authentik_ends_the_sessions_everywhere(world: World, as_provider: bool) -> None:
    w = world
    with Browser() as b:
        for slug in ("app1", "app2"):
            assert sign_in(b, w, slug).status_code == 200
        sids = {s["sid"] for s in w.idp.sessions() if s["sub"] == "alice" and s.get("sid")}
        assert sids
        for sid in sids:
            assert w.fake.session_end(sid, as_provider=as_provider) >= 2, "sent to both replicas"

        def signed_out() -> bool:
            # Each request goes round robin: every replica must refuse.
            return all(b.get(w.url(s)).status_code in (302, 401) for s in ("app1", "app2") for _ in w.replicas)

        wait_for(signed_out, timeout=10, what="the sessions to end on every replica")


def test_an_api_outage_with_a_replica_restarted_during_it(world: World) -> None:
    w = world
    b = Browser()
    try:
        assert sign_in(b, w, "app1").status_code == 200
        w.fake.outage(True)
        wait_for(lambda: all(not _ready(r)["outpost"]["connected"] for r in w.replicas), timeout=FOLLOW_TIMEOUT)
        assert b.get(w.url("app1", "/during")).status_code == 200, "signed-in users keep passing"
        # A replica (re)started while Authentik is down serves the list another replica cached.
        old = w.replicas[0]
        old.proc.stop()
        w.replicas[0] = start_gateway(w.tmp, w.env, name=f"{old.proc.name}-restarted", port=old.port)
        wait_for(lambda: httpx.get(f"{w.replicas[0].url}/readyz").status_code == 200, timeout=FOLLOW_TIMEOUT)
        ready = _ready(w.replicas[0])
        assert set(ready["outpost"]["served"]) == {"app1.test", "app2.test"}
        assert ready["outpost"]["age_seconds"] > 0 and "outpost" in ready["degraded"]
        metrics = httpx.get(f"{w.replicas[0].url}/metrics").text
        assert "authgate_outpost_providers_age_seconds" in metrics
        cached = redis.Redis.from_url(w.env["AUTHGATE_REDIS_URL"]).get("ag:outpost:providers")
        assert cached and secret_of("app1").encode() not in cached, "the cached list is sealed: it holds secrets"
        for _ in range(4):
            assert b.get(w.url("app1", "/after-restart")).status_code == 200
        w.fake.outage(False)
        wait_for(lambda: all(_ready(r)["outpost"]["connected"] for r in w.replicas), timeout=90, what="reconnect")
        # The restarted replica's first discovery of each provider failed during the outage: read again.
        wait_for(lambda: all("degraded" not in _ready(r) for r in w.replicas), timeout=20, what="all clear")
        assert b.get(w.url("app1", "/after-outage")).status_code == 200
    finally:
        w.fake.outage(False)
        b.close()


def test_a_wrong_token_is_named_and_the_replica_is_not_ready(world: World) -> None:
    env = {**world.env, "AUTHENTIK_TOKEN": "not-the-outposts-token-0123456789abcdef"}
    env.pop("AUTHGATE_REDIS_URL")  # its own store: no cached list to fall back on
    replica = start_gateway(world.tmp, env, name=f"outpost-{world.proxy}-wrong-token")
    try:
        wait_for(lambda: "outpost" in httpx.get(f"{replica.url}/readyz").json().get("problems", {}), timeout=20)
        r = httpx.get(f"{replica.url}/readyz")
        assert r.status_code == 503
        assert "refused AUTHENTIK_TOKEN" in r.json()["problems"]["outpost"]
        assert "refused AUTHENTIK_TOKEN" in replica.proc.log()
        assert TOKEN not in replica.proc.log() and env["AUTHENTIK_TOKEN"] not in replica.proc.log()
    finally:
        replica.proc.stop()


def _ready(replica: Gateway) -> dict[str, Any]:
    return dict(httpx.get(f"{replica.url}/readyz").json())
