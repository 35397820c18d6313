"""Three replicas behind a round-robin nginx, a strict IdP that rotates refresh tokens and revokes
the grant on reuse (node oidc-provider), and a scripted browser: the replicas must behave as one.

Exactly-once is proven by the IdP's own records (GET /__test/counts), not by our logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.cluster import Cluster, replicas_behind_nginx
from tests.support.flows import PREFIX, echoed_headers, query_param, session_cookie
from tests.support.node_idp import NodeIdP, start_node_idp
from tests.support.procs import free_port, frozen, unread_bytes, wait_for
from tests.support.servers import Gateway, Redis, gateway_env, start_echo, start_redis, traefik_server

ACCESS_TTL = 4
CLIENT_ID, CLIENT_SECRET = "authgate-replicas", "replicas-secret-0123456789"


@dataclass
class World:
    cluster: Cluster
    idp: NodeIdP
    redis: Redis
    traefik_port: int


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    redis = start_redis(module_tmp, "redis-replicas", "--appendonly", "yes", "--appendfsync", "always")
    echo, echo_port = start_echo(module_tmp)
    app_port, lb_port, traefik_port = free_port(), free_port(), free_port()
    idp = start_node_idp(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://app.test:{port}{PREFIX}/callback" for port in (app_port, traefik_port)],
        post_logout_redirect_uris=[f"http://app.test:{app_port}/"],
        backchannel_logout_uri=f"http://lb.test:{lb_port}{PREFIX}/backchannel_logout",
        access_ttl=ACCESS_TTL,
    )
    env = gateway_env(
        idp.issuer, redis_url=redis.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, store_timeout="0.5"
    )
    try:
        with (
            replicas_behind_nginx(module_tmp, env, echo_port=echo_port, app_port=app_port, lb_port=lb_port) as cluster,
            # Traefik's forwardAuth in front of the same balancer (deploy/traefik/dynamic.yml).
            traefik_server(
                module_tmp, gateway_url=f"http://127.0.0.1:{lb_port}", app_port=echo_port, port=traefik_port
            ),
        ):
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{traefik_port}/", headers={"Host": "app.test"}).status_code != 404,
                what="Traefik routes",
            )
            yield World(cluster, idp, redis, traefik_port)
    finally:
        idp.stop()
        echo.stop()
        redis.proc.stop()


def check_replica(world: World, index: int, cookie: str) -> int:
    gw = world.cluster.replicas[index]
    r = httpx.get(
        f"{gw.url}{PREFIX}/auth/nginx",
        headers={"X-Original-URL": f"{world.cluster.origin}/", "Cookie": cookie},
        timeout=10,
    )
    return r.status_code


def signed_in(world: World, sub: str = "alice") -> tuple[Browser, str]:
    b = Browser()
    r = b.visit(f"{world.cluster.origin}/start-page", sub=sub)
    assert r.status_code == 200, r.text[:300]
    assert echoed_headers(r)["x-authentik-username"] == sub
    return b, session_cookie(b)


def test_any_replica_serves_any_step_and_any_session(world: World) -> None:
    b, cookie = signed_in(world)
    b.close()
    hops = [str(h.request.url) for h in b.history]
    assert any(f"{PREFIX}/start" in u for u in hops) and any(f"{PREFIX}/callback" in u for u in hops)
    for i in range(len(world.cluster.replicas)):
        assert check_replica(world, i, cookie) == 200


def test_concurrent_refresh_happens_exactly_once_per_round(world: World) -> None:
    b, cookie = signed_in(world)
    b.close()
    issued_at = time.monotonic()
    url = f"{world.cluster.origin}/data"

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(), timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.get(
                        url.replace("app.test", "127.0.0.1"),
                        headers={"Host": f"app.test:{world.cluster.app_port}", "Cookie": cookie},
                    )
                    for _ in range(48)
                )
            )

    previous: set[str] = set()
    for round_no in range(4):
        # Wait (bounded) until the access token has expired, so every request must have a fresh one.
        wait_for(lambda: time.monotonic() > issued_at + ACCESS_TTL + 0.3, timeout=ACCESS_TTL + 2, what="expiry")
        before = world.idp.counts()
        started = time.monotonic()
        responses = asyncio.run(burst())
        after = world.idp.counts()
        statuses = [r.status_code for r in responses]
        assert statuses == [200] * 48, f"round {round_no}: {statuses}"
        elapsed = time.monotonic() - started
        tokens = {echoed_headers(r)["x-authentik-jwt"] for r in responses}
        refreshes = after["refresh_token"] - before["refresh_token"]
        # A token falls due again half its life after it was issued (session/timing.py): a burst
        # that outlasts that (a loaded machine) may see one refresh more, one replica each time.
        allowed = 1 + int(elapsed // (ACCESS_TTL / 2))
        assert 1 <= refreshes <= allowed, f"round {round_no} ({elapsed:.1f} s): {before} -> {after}"
        assert len(tokens) <= refreshes, f"round {round_no}: every request used a token this round refreshed"
        assert not tokens & previous, f"round {round_no}: a token of the round before"
        assert after["invalid_grant"] == before["invalid_grant"] == 0
        assert after["refresh_token_reused"] == 0
        previous = tokens
        issued_at = time.monotonic()


@pytest.mark.parametrize("attempt", range(5))
def test_sign_out_applies_on_every_replica_at_once(world: World, attempt: int) -> None:
    b, cookie = signed_in(world)
    with b:
        for _ in range(2):  # warm every replica's local cache
            for i in range(3):
                assert check_replica(world, i, cookie) == 200
        r = b.get(f"{world.cluster.origin}{PREFIX}/sign_out")
        assert r.status_code == 302
        assert r.headers["location"].startswith(f"{world.idp.issuer}/session/end?")
    # No waiting: the very next check on every replica must refuse the old cookie.
    assert [check_replica(world, i, cookie) for i in range(3)] == [401, 401, 401]


@pytest.mark.parametrize("attempt", range(3))
def test_a_sign_out_is_applied_before_a_check_that_reached_a_stalled_replica_with_it(
    world: World, attempt: int
) -> None:
    """A cache hit has no await in it. What makes it safe: the invalidation is applied in the I/O
    callback that reads it, and a check is answered in a task, which runs only after every I/O
    callback of the loop's poll. Freeze replica 2, let a sign-out's invalidation and a check on an
    open connection both reach it (in either order), and thaw it: they are ready in the same
    poll, and the check must see the sign-out. (With redis-py's PubSub, read in a task, and no
    yield before the cache read, the sign-out-first order answered 200 about one time in ten.)

    "Reached" is waited for, not assumed: the sign-out is acknowledged once Redis has queued the
    invalidation, and Redis answers the publisher before it writes to the subscribers; on a busy
    machine its write to replica 2 came after the check (a full run once answered 200 here). So
    the check goes (or the thaw comes) only once replica 2's sockets hold the message, unread."""
    stalled, other = world.cluster.replicas[2], world.cluster.replicas[0]
    assert stalled.proc.popen is not None
    pid = stalled.proc.popen.pid
    conn = http.client.HTTPConnection("127.0.0.1", stalled.port, timeout=10)

    def send_check(cookie: str) -> None:
        conn.request(
            "GET", f"{PREFIX}/auth/nginx", headers={"X-Original-URL": f"{world.cluster.origin}/", "Cookie": cookie}
        )

    def answer() -> int:
        response = conn.getresponse()
        response.read()
        return response.status

    try:
        for order in ("check first", "sign-out first"):
            b, cookie = signed_in(world)
            b.close()
            for _ in range(2):  # the session in replica 2's cache, on an open keep-alive connection
                send_check(cookie)
                assert answer() == 200
            with frozen(pid):
                unread = unread_bytes(pid, world.redis.port)  # a heartbeat's reply may be on its way
                if order == "check first":
                    send_check(cookie)
                sign_out_on(other, cookie, world)
                arrived = unread + len(invalidation(cookie))
                wait_for(lambda: unread_bytes(pid, world.redis.port) >= arrived, timeout=5, what="the invalidation")
                if order == "sign-out first":
                    send_check(cookie)
            assert answer() == 401, order
    finally:
        conn.close()


def test_a_refresh_under_way_cannot_bring_back_a_session_signed_out_meanwhile(world: World) -> None:
    """A replica refreshing a session (the IdP slow to answer) while the user signs out on another:
    the sign-out is acknowledged, then the refresh's answer comes back. Writing the new tokens then
    would bring the session back on every replica, for good (the IdP's refresh token outlives its
    sign-out). The refresh writes only a session that is still there."""
    b, cookie = signed_in(world)
    b.close()
    world.idp.delay_token(1500)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight: list[concurrent.futures.Future[int]] = []

            def refreshing() -> bool:
                # Checks on replica 0 (cache hits) until one is due for a refresh and waits at the IdP.
                if not in_flight or in_flight[-1].done():
                    in_flight.append(pool.submit(check_replica, world, 0, cookie))
                return int(world.idp.counts().get("token_delayed", 0)) > delayed

            delayed = int(world.idp.counts().get("token_delayed", 0))
            wait_for(refreshing, timeout=10, what="a refresh waiting at the IdP")
            sign_out_on(world.cluster.replicas[1], cookie, world)  # acknowledged: 302
            in_flight[-1].result(timeout=10)  # the refresh's answer has come back and been handled
    finally:
        world.idp.delay_token(0)
    assert [check_replica(world, i, cookie) for i in range(3)] == [401, 401, 401]


def invalidation(cookie: str) -> bytes:
    """The message a subscriber reads when this cookie's session is signed out (RESP2)."""
    session_id = cookie.split("=", 1)[1].split(".", 1)[0].encode()
    return b"*3\r\n$7\r\nmessage\r\n$13\r\nag:invalidate\r\n$%d\r\n%s\r\n" % (len(session_id), session_id)


def sign_out_on(gw: Gateway, cookie: str, world: World) -> None:
    r = httpx.get(
        f"{gw.url}{PREFIX}/sign_out",
        headers={"Host": f"app.test:{world.cluster.app_port}", "Cookie": cookie},
        timeout=10,
    )
    assert r.status_code == 302, r.text[:200]


def test_backchannel_logout_ends_the_session_on_every_replica(world: World) -> None:
    b, cookie = signed_in(world)
    b.close()
    for i in range(3):
        assert check_replica(world, i, cookie) == 200
    result = world.idp.backchannel_logout(sub="alice")
    assert result["notified"] and all(n["ok"] for n in result["notified"]), result
    assert [check_replica(world, i, cookie) for i in range(3)] == [401, 401, 401]


def test_callback_delivered_many_times_redeems_the_code_once(world: World) -> None:
    with Browser() as b:
        start = b.get(f"{world.cluster.origin}/dup")
        assert start.status_code == 302
        to_idp = b.get(start.headers["location"])
        callback = _walk_idp_until_callback(b, to_idp, world)
        before = world.idp.counts()
        binding = {c.name: c.value for c in b.http.cookies.jar if "_login_" in c.name}

        def deliver(_: int) -> httpx.Response:
            with Browser() as copy:
                for name, value in binding.items():
                    copy.http.cookies.set(name, value, domain="app.test")
                return copy.get(callback)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(deliver, range(8)))
    after = world.idp.counts()
    assert [r.status_code for r in results] == [302] * 8
    assert {r.headers["location"] for r in results} == {f"{world.cluster.origin}/dup"}
    assert len({r.headers["set-cookie"].split(";")[0] for r in results}) == 1
    assert after["authorization_code"] - before["authorization_code"] == 1
    assert after["authorization_code_reused"] == before["authorization_code_reused"]
    assert after["invalid_grant"] == before["invalid_grant"]


def test_three_tabs_finish_in_any_order_across_replicas(world: World) -> None:
    with Browser() as b:
        callbacks = []
        for i in range(3):
            start = b.get(f"{world.cluster.origin}/tab{i}")
            assert start.status_code == 302
            callbacks.append(_walk_idp_until_callback(b, b.get(start.headers["location"]), world))
        login_cookies = [c for c in b.http.cookies.jar if "_login_" in c.name]
        assert len(login_cookies) == 3, "one login cookie for each tab"
        for i in (1, 2, 0):
            r = b.get(callbacks[i])
            assert r.status_code == 302
            assert r.headers["location"] == f"{world.cluster.origin}/tab{i}"


def test_a_replica_killed_mid_sign_in_does_not_break_it(world: World) -> None:
    with Browser() as b:
        start = b.get(f"{world.cluster.origin}/killed")
        assert start.status_code == 302
        to_idp = b.get(start.headers["location"])
        world.cluster.replicas[0].proc.kill(signal.SIGKILL)
        world.cluster.replicas[1].proc.kill(signal.SIGKILL)
        try:
            callback = _walk_idp_until_callback(b, to_idp, world)
            final = b.follow(b.get(callback))
            assert final.status_code == 200
            assert final.json()["path"] == "/killed"
            assert echoed_headers(final)["x-authentik-username"] == "alice"
        finally:
            world.cluster.restart(0)
            world.cluster.restart(1)


def test_redis_killed_and_restarted_mid_traffic(world: World) -> None:
    b, cookie = signed_in(world)
    b.close()
    app = f"http://127.0.0.1:{world.cluster.app_port}/traffic"
    headers = {"Host": f"app.test:{world.cluster.app_port}", "Cookie": cookie}

    def status() -> int:
        return httpx.get(app, headers=headers, timeout=10).status_code

    assert status() == 200
    world.redis.proc.kill(signal.SIGKILL)
    # Fail closed: once the replicas notice (bounded), nothing passes; nginx shows our 503 as 500.
    wait_for(lambda: status() != 200, timeout=5, what="requests to be refused")
    seen = {status() for _ in range(12)}
    assert 200 not in seen and seen <= {500, 503}, seen
    world.redis.restart()
    wait_for(lambda: status() == 200, timeout=20, what="service to resume by itself")
    assert {status() for _ in range(6)} == {200}, "sessions survive a Redis that persisted them"


def _walk_idp_until_callback(b: Browser, response: httpx.Response, world: World) -> str:
    """Sign in at the node IdP; return the callback URL it sends the browser to (not visited)."""
    from tests.support.node_idp import follow_idp

    leaving = follow_idp(b.http, response, world.idp)
    assert leaving.is_redirect, leaving.text[:300]
    location = leaving.headers["location"]
    assert f"{PREFIX}/callback" in location and query_param(location, "state")
    return location


def test_through_traefik_in_front_of_the_replicas(world: World) -> None:
    """Traefik's forwardAuth -> the round-robin balancer -> three replicas; refresh still exactly once."""
    origin = f"http://app.test:{world.traefik_port}"
    with Browser() as b:
        first = b.get(f"{origin}/via-traefik")
        assert first.status_code == 302 and first.headers["location"].startswith(f"{world.idp.issuer}/auth?")
        final = b.follow(first)
        assert final.status_code == 200 and final.json()["path"] == "/via-traefik"
        cookie = session_cookie(b)
    issued = time.monotonic()
    wait_for(lambda: time.monotonic() > issued + ACCESS_TTL + 0.3, timeout=ACCESS_TTL + 2, what="expiry")
    before = world.idp.counts()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.get(
                        f"http://127.0.0.1:{world.traefik_port}/data",
                        headers={"Host": f"app.test:{world.traefik_port}", "Cookie": cookie},
                    )
                    for _ in range(24)
                )
            )

    responses = asyncio.run(burst())
    after = world.idp.counts()
    assert [r.status_code for r in responses] == [200] * 24
    assert len({echoed_headers(r)["x-authentik-jwt"] for r in responses}) == 1
    assert after["refresh_token"] - before["refresh_token"] == 1
    assert after["invalid_grant"] == 0
