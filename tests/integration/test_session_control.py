"""``authgate sessions list / revoke`` and the idle timeout, through real nginx and Traefik in front of
two replicas sharing a real Redis, with the node IdP.

The command runs as a real subprocess with the gateways' own environment, as an operator would run
it. Revocation must reach every replica's cache at once (the cache TTL here is 15 s: any wait
shorter than that proves it was not the cache running out). Every wait is bounded.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.browser import NAV_HEADERS, Browser
from tests.support.cluster import Cluster, replicas_behind_nginx
from tests.support.flows import PREFIX, echoed_headers, session_cookie
from tests.support.node_idp import NodeIdP, start_node_idp
from tests.support.procs import free_port, wait_for
from tests.support.redis_topologies import redis_cli
from tests.support.servers import PY, ROOT, Redis, gateway_env, start_echo, start_gateway, start_redis, traefik_server

CLIENT_ID, CLIENT_SECRET = "authgate-sessctl", "sessctl-secret-0123456789"
IDLE, CACHE = 2.0, 0.5  # the idle world: a short idle timeout, and a cache TTL under half of it
REVOKED_WITHIN = 3.0  # far under the revocation world's 15 s cache TTL


@dataclass
class World:
    revoking: Cluster  # cache TTL 15 s, idle timeout 120 s
    idle: Cluster  # idle timeout 2 s, cache TTL 0.5 s
    traefik_port: int  # Traefik's forwardAuth in front of the revoking cluster's balancer
    redis: Redis  # the revoking cluster's
    idle_redis: Redis
    idp: NodeIdP


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    redis, idle_redis = start_redis(module_tmp, "redis-sessctl"), start_redis(module_tmp, "redis-sessctl-idle")
    echo, echo_port = start_echo(module_tmp)
    app_port, lb_port, idle_app, idle_lb, traefik_port = (free_port() for _ in range(5))
    idp = start_node_idp(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://app.test:{p}{PREFIX}/callback" for p in (app_port, idle_app, traefik_port)],
    )
    common = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    env = gateway_env(idp.issuer, redis_url=redis.url, session_idle_ttl="120", **common)
    idle_env = gateway_env(
        idp.issuer, redis_url=idle_redis.url, session_idle_ttl=str(IDLE), session_cache_ttl=str(CACHE), **common
    )
    try:
        with (
            replicas_behind_nginx(
                module_tmp, env, echo_port=echo_port, count=2, app_port=app_port, lb_port=lb_port
            ) as revoking,
            replicas_behind_nginx(
                module_tmp, idle_env, echo_port=echo_port, count=2, app_port=idle_app, lb_port=idle_lb
            ) as idle,
            traefik_server(
                module_tmp, gateway_url=f"http://127.0.0.1:{lb_port}", app_port=echo_port, port=traefik_port
            ),
        ):
            wait_for(lambda: through(traefik_port, "") != 404, what="Traefik routes")
            yield World(revoking, idle, traefik_port, redis, idle_redis, idp)
    finally:
        idp.stop()
        echo.stop()
        redis.proc.stop()
        idle_redis.proc.stop()


def through(port: int, cookie: str, path: str = "/page") -> int:
    """A browser's page request through the proxy on ``port`` (nginx or Traefik): 200, or 302 to sign in."""
    headers = {**NAV_HEADERS, "Host": f"app.test:{port}", **({"Cookie": cookie} if cookie else {})}
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10).status_code


def on_replica(cluster: Cluster, index: int, cookie: str) -> int:
    """The auth check straight to one replica (as nginx asks it): 200 or 401."""
    r = httpx.get(
        f"{cluster.replicas[index].url}{PREFIX}/auth/nginx",
        headers={"X-Original-URL": f"{cluster.origin}/", "Cookie": cookie},
        timeout=10,
    )
    return r.status_code


def sign_in(origin: str, user: str) -> str:
    with Browser() as b:
        r = b.visit(f"{origin}/start-page", sub=user)
        assert r.status_code == 200, r.text[:300]
        assert echoed_headers(r)["x-authentik-username"] == user
        return session_cookie(b)


def session_id(cookie: str) -> str:
    return cookie.split("=", 1)[1].split(".", 1)[0]


def authgate(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """``authgate <args>`` as an operator runs it: a new process with the gateways' environment."""
    return subprocess.run(
        [PY, "-m", "authgate", *args],
        env=cluster.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_revoking_a_user_ends_their_sessions_on_every_replica_and_proxy_at_once(world: World) -> None:
    c = world.revoking
    alice = [sign_in(c.origin, "alice"), sign_in(f"http://app.test:{world.traefik_port}", "alice")]
    bob = sign_in(c.origin, "bob")
    for cookie in [*alice, bob]:
        for _ in range(2):  # warm: each replica has verified the session and answers from its cache
            assert [on_replica(c, i, cookie) for i in range(2)] == [200, 200]
        assert through(c.app_port, cookie) == 200 and through(world.traefik_port, cookie) == 200

    listed = authgate(c, "sessions", "list", "--user", "alice", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["session"] for r in rows) == sorted(session_id(k)[:8] for k in alice)
    assert {(r["user"], r["sub"], r["host"]) for r in rows} == {("alice", "alice", "app.test")}
    assert not any(session_id(k) in listed.stdout for k in alice), "a whole session id was printed"

    revoked = authgate(c, "sessions", "revoke", "--user", "alice")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("revoked 2 session(s)")
    assert revoked.stderr.count("session.revoked") == 2, revoked.stderr

    started = time.monotonic()
    for cookie in alice:
        wait_for(
            lambda cookie=cookie: [on_replica(c, i, cookie) for i in range(2)] == [401, 401],
            timeout=REVOKED_WITHIN,
            what="both replicas to refuse a revoked session",
        )
        # Round robin: two requests through nginx reach both replicas; Traefik goes through the balancer.
        assert [through(c.app_port, cookie) for _ in range(2)] == [302, 302]
        assert [through(world.traefik_port, cookie) for _ in range(2)] == [302, 302]
    assert time.monotonic() - started < REVOKED_WITHIN
    assert [on_replica(c, i, bob) for i in range(2)] == [200, 200], "someone else's session was revoked"
    assert through(c.app_port, bob) == 200

    after = authgate(c, "sessions", "list", "--json")
    assert after.returncode == 0, after.stderr
    assert [r["user"] for r in json.loads(after.stdout)] == ["bob"]


def test_the_metadata_in_redis_names_nobody_and_revoke_all_ends_everything(world: World) -> None:
    c = world.revoking
    cookie = sign_in(c.origin, "bob")
    sid = session_id(cookie)
    dump = redis_cli(world.redis.port, "--no-raw", "GET", f"ag:{{{sid}}}:m")
    assert dump and "bob" not in dump and "app.test" not in dump
    assert redis_cli(world.redis.port, "PTTL", f"ag:{{{sid}}}:s").strip().isdigit()

    table = authgate(c, "sessions", "list")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["SESSION", "USER", "SUB", "HOST", "CREATED", "REFRESHED", "ENDS"]
    assert any(line.startswith(sid[:8]) and " bob " in line for line in table.stdout.splitlines())

    everything = authgate(c, "sessions", "revoke", "--all", "--json")
    assert everything.returncode == 0, everything.stderr
    assert sid[:8] in {r["session"] for r in json.loads(everything.stdout)}
    wait_for(lambda: [on_replica(c, i, cookie) for i in range(2)] == [401, 401], timeout=REVOKED_WITHIN)
    assert json.loads(authgate(c, "sessions", "list", "--json").stdout) == []


def test_an_active_session_outlives_its_idle_timeout_and_an_idle_one_ends(world: World) -> None:
    c = world.idle
    cookie = sign_in(c.origin, "alice")
    key = f"ag:{{{session_id(cookie)}}}:s"

    def pttl() -> int:
        return int(redis_cli(world.idle_redis.port, "PTTL", key).strip())

    assert 0 < pttl() <= IDLE * 1000
    # In use for twice the idle timeout, through nginx (both replicas, cache hits and cold reads).
    until = time.monotonic() + 2 * IDLE
    while time.monotonic() < until:
        assert through(c.app_port, cookie) == 200
        time.sleep(CACHE / 2)  # the pace of a user's requests, not a wait for a condition
        assert 0 < pttl() <= IDLE * 1000
    last_use = time.monotonic()

    # Left alone (nothing touches the session: redis-cli's PTTL does not extend it), it ends.
    wait_for(lambda: pttl() == -2, timeout=IDLE + 3, what="the idle session's key to expire")
    assert time.monotonic() - last_use >= IDLE - CACHE - 0.1, "ended before the idle timeout"
    assert [on_replica(c, i, cookie) for i in range(2)] == [401, 401]
    assert through(c.app_port, cookie) == 302
    # Its metadata keeps the absolute TTL, yet the session is not listed: it has ended.
    assert redis_cli(world.idle_redis.port, "EXISTS", f"ag:{{{session_id(cookie)}}}:m").strip() == "1"
    listed = authgate(c, "sessions", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout + listed.stderr


def run_authgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "authgate", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "revoke", "--user", ""],
        ["sessions", "revoke", "--sub", ""],
        ["sessions", "revoke", "--user", "  "],
        ["sessions", "list", "--user", ""],
    ],
)
def test_an_empty_name_ends_nobody_and_exits_2(world: World, argv: list[str]) -> None:
    """`--user "$NAME"` with NAME unset: refused (exit 2); only --all ends every session."""
    c = world.revoking
    cookie = sign_in(c.origin, "bob")
    refused = authgate(c, *argv)
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "is empty" in refused.stderr and "session.revoked" not in refused.stderr
    assert [on_replica(c, i, cookie) for i in range(2)] == [200, 200], "a session was revoked"


def test_with_another_secret_the_listing_says_it_cannot_open_the_metadata(world: World) -> None:
    c = world.revoking
    cookie = sign_in(c.origin, "bob")
    wrong = {**c.env, "AUTHGATE_SECRET": "another-secret-than-the-gateways-0123456789abcdef"}
    listed = run_authgate(wrong, "sessions", "list")
    assert listed.returncode == 1, (listed.stdout, listed.stderr)
    assert "cannot be opened with this AUTHGATE_SECRET" in listed.stderr
    right = run_authgate(c.env, "sessions", "list")
    assert right.returncode == 0 and "cannot be opened" not in right.stderr, right.stderr
    assert any(line.startswith(session_id(cookie)[:8]) and " bob " in line for line in right.stdout.splitlines())


def test_a_user_renamed_at_the_idp_is_found_under_the_new_name_after_a_refresh(module_tmp: Path) -> None:
    """The IdP renames alice to alicia; the next refresh brings the new preferred_username, and
    `authgate sessions` finds the session by the new name (and no longer by the old one)."""
    gw_port = free_port()
    redis = start_redis(module_tmp, "redis-rename")
    idp = start_node_idp(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://app.test:{gw_port}{PREFIX}/callback"],
        access_ttl=3,
        name="idp-rename",
    )
    env = gateway_env(idp.issuer, redis_url=redis.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    gateway = start_gateway(module_tmp, env, name="authgate-rename", port=gw_port)
    try:
        origin = f"http://app.test:{gw_port}"
        with Browser() as b:
            assert b.visit(f"{origin}{PREFIX}/start?rd={origin}/").status_code in (200, 404)  # the gateway is no app
            cookie = session_cookie(b)
        assert "alice" in run_authgate(env, "sessions", "list", "--user", "alice").stdout
        idp.rename("alice", "alicia")
        check = {"X-Original-URL": f"{origin}/page", "X-Original-Method": "GET", "Cookie": cookie}

        def renamed() -> bool:
            answer = httpx.get(f"{gateway.url}{PREFIX}/auth/nginx", headers=check, timeout=10)
            assert answer.status_code == 200, answer.text
            return answer.headers.get("x-authentik-username") == "alicia"

        wait_for(renamed, timeout=15, what="a refresh bringing the new username")
        new = run_authgate(env, "sessions", "list", "--user", "alicia", "--json")
        assert new.returncode == 0, new.stderr
        assert [(r["session"], r["user"]) for r in json.loads(new.stdout)] == [(session_id(cookie)[:8], "alicia")]
        old = run_authgate(env, "sessions", "list", "--user", "alice", "--json")
        assert old.returncode == 0 and json.loads(old.stdout) == [], old.stdout
        revoked = run_authgate(env, "sessions", "revoke", "--user", "alicia")
        assert revoked.returncode == 0 and revoked.stdout.startswith("revoked 1 session(s)"), revoked.stdout
    finally:
        gateway.proc.stop()
        idp.stop()
        redis.proc.stop()
