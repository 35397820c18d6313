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

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis

from tests.support.authentik_idp import App, AuthentikIdP, start_authentik_idp
from tests.support.browser import Browser
from tests.support.cluster import balancer_block
from tests.support.fake_authentik import FakeAuthentik, start_fake_authentik
from tests.support.flows import echoed_headers
from tests.support.procs import Proc, free_port, wait_for
from tests.support.servers import Gateway, nginx_server, start_echo, start_gateway, start_redis, traefik_server

pytestmark = pytest.mark.e2e

SLUGS = ("app1", "app2", "app3")  # app3 is added at run time
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
            "pk": SLUGS.index(slug) + 1,
            "name": slug.title(),
            "slug": slug,
            "client_id": f"client-{slug}",
            "client_secret": secret_of(slug),
            "external_host": f"http://{slug}.test:{self.port}",
            "mode": "forward_single",
            **changes,
        }

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
    apps = [
        App(
            s,
            f"client-{s}",
            secret_of(s),
            redirect_uris=[f"http://{s}.test:{port}{CALLBACK}"],
            backchannel_logout_uri=backchannel,
            extra=hs256,
        )
        for s in SLUGS
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
    hosts = " ".join(f"{s}.test" for s in SLUGS)
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
                rule = "(" + " || ".join(f"Host(`{s}.test`)" for s in SLUGS) + ")"
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


def test_session_end_from_authentik_ends_the_sessions_everywhere(world: World) -> None:
    w = world
    with Browser() as b:
        for slug in ("app1", "app2"):
            assert sign_in(b, w, slug).status_code == 200
        sids = {s["sid"] for s in w.idp.sessions() if s["sub"] == "alice" and s.get("sid")}
        assert sids
        for sid in sids:
            assert w.fake.session_end(sid) >= 2, "sent to both replicas"

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
