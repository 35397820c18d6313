"""Many apps, one gateway, as with Authentik's outpost: three apps through real nginx, Traefik and
Caddy, two authgate replicas behind a round-robin balancer, a real IdP in Authentik's layout.

- grafana.test has its own client (``client-grafana``, issuer ``/application/o/grafana/``);
- wiki.test has its own client (``client-wiki``) and header auth (bearer and basic) for API clients;
- portal.test has no entry of its own: the global client (``client-portal``);
- header auth basic (app passwords) is on globally, so on grafana (its own client) and the portal too.

The IdP's counts (per client) prove which client each sign-in, refresh and exchange used.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.support.authentik_idp import App, AuthentikIdP, start_authentik_idp
from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.cluster import balancer_block
from tests.support.flows import PREFIX, echoed_headers
from tests.support.node_idp import follow_idp
from tests.support.procs import Proc, free_port, wait_for
from tests.support.servers import (
    Gateway,
    gateway_env,
    nginx_server,
    start_echo,
    start_gateway,
    start_redis,
    traefik_server,
)

pytestmark = pytest.mark.e2e

PROXIES = ["nginx", "traefik", "caddy"]
HOSTS = {"grafana": "grafana.test", "wiki": "wiki.test", "portal": "portal.test"}
SECRETS = {"grafana": "secret-grafana-0123456789abcdef", "wiki": "secret-wiki-0123456789abcdef"}
SECRETS["portal"] = "secret-portal-0123456789abcdef"
ALICE = ("alice", "alice-app-password-0123456789")  # tests/idp/server.mjs: alice's app password
API = {"Accept": "application/json"}


@dataclass
class World:
    idp: AuthentikIdP
    ports: dict[str, int]
    lb_port: int
    replicas: list[Gateway]
    rules: Path

    def url(self, proxy: str, app: str, path: str = "/") -> str:
        return f"http://{HOSTS[app]}:{self.ports[proxy]}{path}"

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.idp.counts().items()}

    def token(self, app: str, user: tuple[str, str] = ALICE) -> str:
        """A JWT access token of ``app``'s client for ``user`` (Authentik's app-password exchange)."""
        r = httpx.post(
            f"{self.idp.url}/application/o/token/",
            data={"grant_type": "client_credentials", "username": user[0], "password": user[1], "scope": "openid"},
            auth=(f"client-{app}", SECRETS[app]),
            headers={"Host": httpx.URL(self.idp.issuer).netloc.decode()},
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    redis = start_redis(module_tmp, "redis-many-apps")
    echo, echo_port = start_echo(module_tmp)
    ports = {proxy: free_port() for proxy in PROXIES}
    lb_port = free_port()
    backchannel = f"http://127.0.0.1:{lb_port}{PREFIX}/backchannel_logout"

    def app(slug: str) -> App:
        callbacks = [f"http://{HOSTS[slug]}:{p}{PREFIX}/callback" for p in ports.values()]
        return App(slug, f"client-{slug}", SECRETS[slug], redirect_uris=callbacks, backchannel_logout_uri=backchannel)

    idp = start_authentik_idp(module_tmp, [app("portal"), app("grafana"), app("wiki")])
    rules = module_tmp / "many-apps.toml"
    rules.write_text(
        "\n".join(
            [
                "[[apps]]",
                'host = "grafana.test"',
                f'issuer = "{idp.issuer_for("grafana")}"',
                'client_id = "client-grafana"',
                f'client_secret = "{SECRETS["grafana"]}"',
                "",
                "[[apps]]",
                'host = "wiki.test"',
                f'issuer = "{idp.issuer_for("wiki")}"',
                'client_id = "client-wiki"',
                f'client_secret_file = "{module_tmp / "wiki-secret"}"',
                'header_auth = ["bearer", "basic"]',
            ]
        )
        + "\n"
    )
    (module_tmp / "wiki-secret").write_text(SECRETS["wiki"] + "\n")
    env = gateway_env(
        idp.issuer_for("portal"),
        client_id="client-portal",
        client_secret=SECRETS["portal"],
        redis_url=redis.url,
        config=str(rules),
        header_auth="basic",
    )
    replicas = [start_gateway(module_tmp, env, name=f"many-apps-{i}") for i in range(2)]
    procs: list[Proc] = [redis.proc, echo, *(r.proc for r in replicas)]
    balancer = f"http://127.0.0.1:{lb_port}"
    extra = balancer_block([r.port for r in replicas], lb_port)
    traefik_hosts = "(" + " || ".join(f"Host(`{h}`)" for h in HOSTS.values()) + ")"
    caddy_sites = ", ".join(f"http://{h}:{ports['caddy']}" for h in HOSTS.values())
    try:
        with (
            nginx_server(
                module_tmp,
                gateway_url="http://authgate_replicas",
                app_port=echo_port,
                port=ports["nginx"],
                server_name=" ".join(HOSTS.values()),
                extra_http=extra,
                wait_ports=(lb_port,),
            ),
            traefik_server(
                module_tmp,
                gateway_url=balancer,
                app_port=echo_port,
                port=ports["traefik"],
                host="many.test",
                replacements={"Host(`many.test`)": traefik_hosts},
            ),
            caddy_server(
                module_tmp,
                gateway_url=balancer,
                app_port=echo_port,
                port=ports["caddy"],
                host="portal.test",
                replacements={f"\nhttp://portal.test:{ports['caddy']} {{\n": f"\n{caddy_sites} {{\n"},
            ),
        ):
            traefik = f"http://127.0.0.1:{ports['traefik']}{PREFIX}/ping"
            wait_for(lambda: httpx.get(traefik, headers={"Host": "wiki.test"}).status_code != 404, what="Traefik")
            yield World(idp, ports, lb_port, replicas, rules)
    finally:
        idp.stop()
        for proc in reversed(procs):
            proc.stop()


def client_asked_for(browser: Browser, url: str) -> str:
    """The client_id of the IdP authorization request a page not signed in is sent to."""
    start = browser.get(url)
    assert start.status_code == 302, start.text[:300]
    location = start.headers["location"]
    if "/start" in location:  # nginx: its snippet sends the browser to /start first
        start = browser.get(urlsplit(url)._replace(path=f"{PREFIX}/start", query=f"rd={url}").geturl())
        location = start.headers["location"]
    assert urlsplit(location).path == "/application/o/authorize/", location  # Authentik's shared endpoint
    return parse_qs(urlsplit(location).query)["client_id"][0]


@pytest.mark.parametrize("proxy", PROXIES)
def test_each_app_signs_in_with_its_own_client(world: World, proxy: str) -> None:
    with Browser() as b:
        for slug in HOSTS:
            assert client_asked_for(b, world.url(proxy, slug)) == f"client-{slug}"
        before = world.counts()
        for slug in HOSTS:
            r = b.visit(world.url(proxy, slug, "/page"))
            assert r.status_code == 200, (slug, r.text[:300])
            seen = echoed_headers(r)
            assert seen["x-authentik-username"] == "alice"
            assert seen["x-authentik-meta-app"] == slug, "the app's slug, from its own issuer"
            assert seen["x-authentik-meta-jwks"] == world.idp.jwks_url(slug)
        after = world.counts()
    for slug in HOSTS:
        key = f"authorization_code@client-{slug}"
        assert after.get(key, 0) == before.get(key, 0) + 1, (key, after)


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_session_of_one_app_never_opens_another(world: World, proxy: str) -> None:
    with Browser() as b:
        assert b.visit(world.url(proxy, "grafana", "/page")).status_code == 200
        grafana_cookie = next(c for c in b.http.cookies.jar if c.name == "authgate_session")
        # The same cookie, copied to the wiki's host: not valid there (another host, another client).
        r = httpx.get(
            world.url(proxy, "wiki", "/api/x").replace("wiki.test", "127.0.0.1"),
            headers={
                "Host": f"wiki.test:{world.ports[proxy]}",
                "Cookie": f"authgate_session={grafana_cookie.value}",
                **API,
            },
        )
        # Sign in again: 401, or nginx's snippet sending every 401 to /start.
        assert r.status_code == 401 or (r.status_code == 302 and f"{PREFIX}/start" in r.headers["location"]), r


@pytest.mark.parametrize("proxy", PROXIES)
def test_header_auth_is_on_for_the_wiki_only_and_takes_the_wikis_tokens_only(world: World, proxy: str) -> None:
    wiki_token, grafana_token = world.token("wiki"), world.token("grafana")

    def api(slug: str, token: str) -> httpx.Response:
        url = world.url(proxy, slug, "/api/items").replace(HOSTS[slug], "127.0.0.1")
        host = f"{HOSTS[slug]}:{world.ports[proxy]}"
        return httpx.get(url, headers={"Host": host, "Authorization": f"Bearer {token}", **API})

    r = api("wiki", wiki_token)
    assert r.status_code == 200 and echoed_headers(r)["x-authentik-username"] == "alice", r.text[:300]
    refused = api("wiki", grafana_token)  # another app's token: its audience is not the wiki's client
    assert refused.status_code == 401 and "location" not in refused.headers
    off = api("grafana", grafana_token)  # header auth is off on grafana: no session, so sign in
    assert "x-authentik-username" not in off.text
    assert off.status_code == 401 or (off.status_code == 302 and f"{PREFIX}/start" in off.headers["location"])


@pytest.mark.parametrize("proxy", PROXIES)
def test_the_id_token_of_a_sign_out_url_is_no_bearer_token(world: World, proxy: str) -> None:
    """/sign_out puts the session's ID token in its Location (id_token_hint): whoever sees that URL
    (history, logs, a Referer) must not use it as a bearer token on an app with header auth."""
    with Browser() as b:
        assert b.visit(world.url(proxy, "wiki", "/page")).status_code == 200
        out = b.get(world.url(proxy, "wiki", f"{PREFIX}/sign_out"))
        assert out.status_code == 302, out.text[:300]
        id_token = parse_qs(urlsplit(out.headers["location"]).query)["id_token_hint"][0]
    url = world.url(proxy, "wiki", "/api/items").replace("wiki.test", "127.0.0.1")
    host = f"wiki.test:{world.ports[proxy]}"
    r = httpx.get(url, headers={"Host": host, "Authorization": f"Bearer {id_token}", **API})
    assert r.status_code == 401 and "location" not in r.headers, r.text[:300]
    # The wiki's access token still passes (tests above): only the ID token is refused.
    ok = httpx.get(url, headers={"Host": host, "Authorization": f"Bearer {world.token('wiki')}", **API})
    assert ok.status_code == 200


def callback_of_a_grafana_sign_in(b: Browser, world: World) -> str:
    """The IdP's redirect back to grafana's callback (not yet followed), through nginx."""
    start = b.get(world.url("nginx", "grafana", f"{PREFIX}/start?rd={world.url('nginx', 'grafana', '/page')}"))
    assert start.status_code == 302, start.text[:300]
    back = follow_idp(b.http, b.get(start.headers["location"]), world.idp)
    assert back.is_redirect and f"{PREFIX}/callback" in back.headers["location"], back.text[:300]
    return str(back.headers["location"])


@pytest.mark.parametrize(
    ("iss", "why"),
    [
        ("wiki", "the wiki's issuer: a sign-in response from another IdP (a mix-up)"),
        ("", "no iss: stripped from the response of an IdP that always sends it"),
    ],
)
def test_a_callback_whose_iss_names_another_issuer_is_not_redeemed(world: World, iss: str, why: str) -> None:
    """RFC 9207: the node IdP sends iss (and advertises it); the callback checks it before redeeming."""
    with Browser() as b:
        callback = urlsplit(callback_of_a_grafana_sign_in(b, world))
        query = {k: v[0] for k, v in parse_qs(callback.query).items()}
        assert query["iss"] == world.idp.issuer_for("grafana"), "the IdP says who it is"
        if iss:
            query["iss"] = world.idp.issuer_for(iss)
        else:
            del query["iss"]
        before = world.counts().get("authorization_code@client-grafana", 0)
        r = b.get(callback._replace(query=urlencode(query)).geturl())
        assert r.status_code == 400 and "RFC 9207" in r.text, (why, r.status_code, r.text[:300])
        assert world.counts().get("authorization_code@client-grafana", 0) == before, "the code was not redeemed"
        assert "authgate_session" not in {c.name for c in b.http.cookies.jar}


def test_a_back_channel_logout_from_each_apps_issuer_ends_its_sessions(world: World) -> None:
    with Browser() as b:
        for slug in ("grafana", "wiki"):
            assert b.visit(world.url("nginx", slug, "/page")).status_code == 200
        world.idp.backchannel_logout(sub="alice")  # one logout token per app, each from its own issuer

        def signed_out() -> bool:
            return all(
                b.get(world.url("nginx", slug, "/page"), headers=API).status_code in (302, 401)
                for slug in ("grafana", "wiki")
            )

        wait_for(signed_out, timeout=10, what="both apps' sessions to end")
    events = json.dumps(world.idp.events())
    assert "client-grafana" in events and "client-wiki" in events


@pytest.mark.parametrize("nosid", [True, False], ids=["sub only", "with sid"])
def test_a_logout_token_of_one_app_ends_only_that_apps_sessions(world: World, nosid: bool) -> None:
    """Lanes: grafana's issuer logs alice out (its token's aud is grafana's client). Her sessions on
    the wiki (its own client) and the portal (the global client) are not grafana's to end."""
    with Browser() as b:
        for slug in HOSTS:
            assert b.visit(world.url("nginx", slug, "/page")).status_code == 200
        sent = world.idp.backchannel_logout(sub="alice", client_id="client-grafana", nosid=nosid, keep=True)
        assert sent["notified"] and all(n["ok"] and n["client_id"] == "client-grafana" for n in sent["notified"]), sent
        status = {slug: b.get(world.url("nginx", slug, "/page"), headers=API).status_code for slug in HOSTS}
    assert status["grafana"] in (302, 401), status
    assert status["wiki"] == status["portal"] == 200, status


def test_refused_passwords_at_one_apps_idp_lock_the_name_out_of_that_app_only(world: World) -> None:
    """Header-auth lockout per client: ten refused app passwords for alice at grafana's client lock
    her out of grafana (not even her right password is tried), never out of the wiki's client."""
    from authgate.access.api_clients import FAILURE_LIMIT

    def api(slug: str, password: str) -> httpx.Response:
        url = world.url("nginx", slug, "/api/items").replace(HOSTS[slug], "127.0.0.1")
        host = f"{HOSTS[slug]}:{world.ports['nginx']}"
        return httpx.get(url, headers={"Host": host, **API}, auth=(ALICE[0], password))

    for i in range(FAILURE_LIMIT):
        assert api("grafana", f"wrong-password-{i}").status_code == 401
    before = world.counts().get("client_credentials@client-grafana", 0)
    assert api("grafana", ALICE[1]).status_code == 401, "locked out at grafana's client"
    assert world.counts().get("client_credentials@client-grafana", 0) == before, "the IdP was not asked"
    r = api("wiki", ALICE[1])
    assert r.status_code == 200, r.text[:300]
    assert echoed_headers(r)["x-authentik-username"] == "alice"


def reload_rules(world: World, text: str) -> None:
    """Write the rules file and SIGHUP every replica; return once each has logged the reload."""
    counts = [r.proc.log_path.read_text().count("rules reloaded (SIGHUP)") for r in world.replicas]
    world.rules.write_text(text)
    for replica in world.replicas:
        assert replica.proc.popen is not None
        os.kill(replica.proc.popen.pid, signal.SIGHUP)
    for replica, before in zip(world.replicas, counts, strict=True):
        wait_for(
            lambda r=replica, n=before: r.proc.log_path.read_text().count("rules reloaded (SIGHUP)") > n,
            timeout=10,
            what="the rules reload",
        )


def test_a_cached_session_of_the_old_client_stops_opening_its_host_after_a_reload(world: World) -> None:
    """The portal moves to grafana's client (a reload of the rules file): alice's portal session,
    signed in with the global client and cached on every replica, must be refused from the first
    check on, not only on the check that reads it from the store (which cached it, before the cache
    checked the client too)."""
    original = world.rules.read_text()
    moved = original + (
        f'\n[[apps]]\nhost = "portal.test"\nissuer = "{world.idp.issuer_for("grafana")}"\n'
        f'client_id = "client-grafana"\nclient_secret = "{SECRETS["grafana"]}"\n'
    )
    with Browser() as b:
        assert b.visit(world.url("nginx", "portal", "/page")).status_code == 200
        for _ in range(4):  # cached on both replicas (round robin)
            assert b.get(world.url("nginx", "portal", "/page"), headers=API).status_code == 200
        try:
            reload_rules(world, moved)
            after = [b.get(world.url("nginx", "portal", "/page"), headers=API).status_code for _ in range(6)]
        finally:
            reload_rules(world, original)
    assert all(status in (302, 401) for status in after), after


def test_a_session_refreshes_with_its_apps_client(module_tmp: Path) -> None:
    """Straight to one replica (the test plays the proxy): a 3-second access token, refreshed by
    the client that signed the session in, not the global one."""
    gw_port = free_port()
    callback = f"http://grafana.test:{gw_port}{PREFIX}/callback"
    apps = [
        App("portal", "client-portal", SECRETS["portal"]),
        App("grafana", "client-grafana", SECRETS["grafana"], [callback]),
    ]
    idp = start_authentik_idp(module_tmp, apps, access_ttl=3, name="authentik-idp-refresh")
    rules = module_tmp / "refresh-apps.toml"
    rules.write_text(
        f'[[apps]]\nhost = "grafana.test"\nissuer = "{idp.issuer_for("grafana")}"\n'
        f'client_id = "client-grafana"\nclient_secret = "{SECRETS["grafana"]}"\n'
    )
    env = gateway_env(
        idp.issuer_for("portal"), client_id="client-portal", client_secret=SECRETS["portal"], config=str(rules)
    )
    gateway = start_gateway(module_tmp, env, name="many-apps-refresh", port=gw_port)
    try:
        with Browser() as b:
            origin = f"http://grafana.test:{gw_port}"
            assert b.visit(f"{origin}{PREFIX}/start?rd={origin}/").status_code in (200, 404)  # the gateway is no app
            cookie = next(c.value for c in b.http.cookies.jar if c.name == "authgate_session")
        check = {"X-Original-URL": f"{origin}/page", "X-Original-Method": "GET", "Cookie": f"authgate_session={cookie}"}

        def refreshed() -> bool:
            answer = httpx.get(f"{gateway.url}{PREFIX}/auth/nginx", headers=check)
            assert answer.status_code == 200, answer.text
            return int(idp.counts().get("refresh_token@client-grafana", 0)) >= 1

        wait_for(refreshed, timeout=15, what="a refresh by grafana's client")
        assert int(idp.counts().get("refresh_token@client-portal", 0)) == 0
    finally:
        gateway.proc.stop()
        idp.stop()


def test_readiness_probes_every_apps_idp(world: World) -> None:
    ready = httpx.get(f"http://127.0.0.1:{world.lb_port}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"ready": True}, ready.text
