"""The capacity model's inputs, measured (docs/scaling.md): what each step of a user's day costs
Redis and a replica, how big a session is, and what the invalidation feed sends.

    make capacity         (or: .venv/bin/python -m bench.capacity --repeat 20 --sessions 1000)

Starts its own redis-server, two OpenID providers (oidc-provider-mock: one with hour-long access
tokens, one with 2-second ones so that a check falls due for a refresh) and three authgate
replicas on that Redis (cache on, cache off, and cache on against the short-token IdP), then
measures, one step at a time, Redis's ``INFO commandstats`` before and after it (bench/counters.py):

- commands by name per sign-in (/start and /callback, the IdP's form between them), per refresh
  (the check that falls due and refreshes), per cold check (cache off), per cached check and per
  sign-out; and the replica's CPU time for a sign-in and a refresh;
- bytes per session in Redis (``INFO memory``'s growth over ``--sessions`` sign-ins of as many
  users, and ``MEMORY USAGE`` of each kind of key, bench/capacity_memory.py) and in a replica's
  cache (its resident growth over a check of each of them);
- the invalidation feed: messages and bytes each replica receives per sign-out, and on a 3-master
  Redis Cluster what classic PUBLISH and sharded SPUBLISH cost the cluster bus (bench/fanout.py).

Checks per second per core are ``make bench``'s (bench/run.py), not this script's.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis as redis_lib

from authgate.session.tickets import Ticket
from authgate.store.keys import INVALIDATION_CHANNEL
from bench.baselines import scratch
from bench.capacity_memory import RedisMemory, redis_memory, rss_kib
from bench.counters import Meter, Monitor, Tally, quiet
from bench.fanout import ClusterBench, Fanout, Listener
from bench.signins import register_users, sign_in_users, user
from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie, sign_in_direct
from tests.support.procs import Proc, require_binary
from tests.support.servers import Gateway, gateway_env, start_gateway, start_mock_idp, start_redis

TOKEN_AGE = 2  # seconds: the short-token IdP's access tokens (refresh falls due after half of it)


class Checker:
    """Auth checks as nginx sends them (deploy/nginx/npm-advanced.conf), on one kept-alive connection."""

    def __init__(self, gateway: Gateway, origin: str) -> None:
        self.url = f"{gateway.url}{PREFIX}/auth/nginx"
        self.origin = origin
        self.http = httpx.Client(timeout=20)
        self.pid = gateway.proc.popen.pid if gateway.proc.popen else 0

    def __call__(self, cookie: str, expect: int = 200) -> httpx.Response:
        headers = {"X-Original-URL": f"{self.origin}/dashboard", "X-Original-Method": "GET", "Cookie": cookie}
        answer = self.http.get(self.url, headers={**headers, "X-Original-Host": "app.test"})
        assert answer.status_code == expect, (answer.status_code, answer.text[:300])
        return answer


def signed_in(origin: str, sub: str) -> str:
    with Browser() as b:
        sign_in_direct(b, origin, sub=sub)
        return session_cookie(b)


def sign_out(origin: str, cookie: str) -> None:
    with Browser() as b:
        answer = b.get(f"{origin}{PREFIX}/sign_out", headers={"Cookie": cookie})
        assert answer.status_code in (200, 302), answer.text[:300]


def measure_steps(args: argparse.Namespace, tmp: Path, procs: list[Proc]) -> Measured:
    redis = start_redis(tmp)
    procs.append(redis.proc)
    idp, short_idp = start_mock_idp(tmp), start_mock_idp(tmp, token_max_age=TOKEN_AGE)
    procs += [idp.proc, short_idp.proc]
    gateways: dict[str, Gateway] = {}
    for name, issuer, ttl in (
        ("main", idp.issuer, "15"),
        ("cold", idp.issuer, "0"),
        ("refresh", short_idp.issuer, "15"),
    ):
        env = gateway_env(issuer, redis_url=redis.url, log_level="warning", session_cache_ttl=ttl)
        gateways[name] = start_gateway(tmp, env, name=f"authgate-{name}")
        procs.append(gateways[name].proc)
    origins = {name: f"http://app.test:{gw.port}" for name, gw in gateways.items()}
    checks = {name: Checker(gw, origins["main"]) for name, gw in gateways.items()}
    checks["refresh"].origin = origins["refresh"]
    client = redis_lib.Redis.from_url(redis.url)
    meter = Meter(client, Monitor(redis.port))
    n = args.repeat
    # Users of their own for each part: the steps, the refreshes, the memory figures, the warm-ups.
    subs = [user(i) for i in range(2 * n + 1 + args.sessions + 3)]
    refreshing, many = subs[n : 2 * n + 1], subs[2 * n + 1 : 2 * n + 1 + args.sessions]
    register_users(idp.issuer, subs)
    register_users(short_idp.issuer, refreshing)
    steps = {k: Tally() for k in ("sign-in", "refresh", "cold check", "cached check", "sign-out")}

    for i, name in enumerate(("main", "cold", "refresh")):  # warm-up: scripts loaded, connections open
        checks[name](signed_in(origins[name], subs[-1 - i]))
    cookies = []
    for sub in subs[:n]:
        with Browser() as b, meter.step(steps["sign-in"], checks["main"].pid):
            sign_in_direct(b, origins["main"], sub=sub)
        cookies.append(session_cookie(b))
    for cookie in cookies:
        with meter.step(steps["cold check"], checks["cold"].pid):
            checks["cold"](cookie)
    for cookie in cookies:
        checks["main"](cookie)  # into the cache
        with meter.step(steps["cached check"], checks["main"].pid):
            checks["main"](cookie)

    # Refresh: each session's first check caches it until its token falls due; the next check refreshes.
    due: list[tuple[str, str, float]] = []
    for sub in refreshing:
        cookie = signed_in(origins["refresh"], sub)
        jwt = checks["refresh"](cookie).headers["x-authentik-jwt"]
        due.append((cookie, jwt, time.monotonic() + TOKEN_AGE / 2 + 0.1))
    for i, (cookie, jwt, when) in enumerate(due):
        time.sleep(max(0.0, when - time.monotonic()))  # a clock deadline: the token's refresh margin
        with meter.step(steps["refresh"] if i else Tally(), checks["refresh"].pid):  # the first: a warm-up
            refreshed = checks["refresh"](cookie)
        assert refreshed.headers["x-authentik-jwt"] != jwt, "the check was to refresh the access token"

    listener = Listener(redis.port, INVALIDATION_CHANNEL)
    for cookie in cookies:
        with meter.step(steps["sign-out"], checks["main"].pid):
            sign_out(origins["main"], cookie)
    marker = f"end-{time.monotonic_ns()}"
    client.publish(INVALIDATION_CHANNEL, marker)
    feed_messages, feed_bytes = listener.until(marker)
    listener.close()
    for cookie in cookies:
        checks["main"](cookie, expect=401)  # signed out: the measured sign-outs did sign out

    # Bytes per session: in Redis over distinct users' sign-ins (through the cache-off replica), in
    # the main replica's cache over one check of each (the cold reads' Redis CPU measured meanwhile).
    meter.monitor.close()  # MONITOR costs Redis time: not while its CPU time is measured
    bulk_sign_in, bulk_checks = Tally(), Tally()
    with redis_memory(client, len(many)) as memory, meter.bulk(bulk_sign_in, checks["cold"].pid, len(many)):
        many_cookies = sign_in_users(origins["cold"], many, parallel=2)
    rss_before = rss_kib(checks["main"].pid)
    with meter.bulk(bulk_checks, checks["main"].pid, len(many)):
        for cookie in many_cookies:
            checks["main"](cookie)
    rss_growth = (rss_kib(checks["main"].pid) - rss_before) * 1024 / len(many)
    pings, idle_cpu = quiet(client, 2.0, time.sleep)  # a measurement window, not a wait
    version = str(client.info("server")["redis_version"])
    for checker in checks.values():
        checker.http.close()
    client.close()
    return Measured(
        steps=steps,
        feed_messages=feed_messages / n,
        feed_bytes=feed_bytes / max(feed_messages, 1),
        memory=memory,
        rss_growth=rss_growth,
        bulk_sign_in=bulk_sign_in,
        bulk_checks=bulk_checks,
        pings=pings / len(gateways),
        idle_cpu=idle_cpu,
        version=version,
    )


@dataclass
class Measured:
    steps: dict[str, Tally]
    feed_messages: float  # per sign-out, to each replica
    feed_bytes: float  # per message
    memory: RedisMemory
    rss_growth: float  # bytes per cached session
    bulk_sign_in: Tally
    bulk_checks: Tally
    pings: float  # per replica per second
    idle_cpu: float  # Redis's CPU seconds per second of quiet
    version: str


def print_report(args: argparse.Namespace, m: Measured, fanout: list[Fanout], cluster_version: str) -> None:
    binary = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
    print(f"\nauthgate capacity inputs — {binary.strip()}")
    print(f"  standalone redis_version {m.version}, cluster redis_version {cluster_version or '(skipped)'}")
    print(f"  {args.repeat} of each step, {args.sessions} sessions of distinct users for the memory figures\n")
    print("  Redis commands per step (MONITOR): sent by the replica (round trips), and [run by its scripts]")
    print(f"  {'step':<34}{'sent':>6}{'CPU µs':>8}  by command")
    labels = {"sign-in": "sign-in (start + callback)", "refresh": "refresh (the check that does it)"}
    for name, tally in m.steps.items():
        by = ", ".join(f"{cmd} {calls:.2f}" for cmd, calls in tally.per_step().items()) or "-"
        inner = ", ".join(f"{cmd} {calls:.2f}" for cmd, calls in tally.per_step(scripted=True).items())
        cpu = f"{tally.gateway_cpu_us:.0f}" if name in ("sign-in", "refresh", "sign-out") else ""
        print(f"  {labels.get(name, name):<34}{tally.total:>6.2f}{cpu:>8}  {by}" + (f" [{inner}]" if inner else ""))
    print("  (CPU µs: the replica's CPU time per step; checks per core are make bench's)")
    print(f"  heartbeat: {m.pings:.2f} PING per replica per second (the invalidation feed's, whatever the load)")
    print(
        f"  Redis CPU: {m.bulk_sign_in.redis_cpu_us(m.idle_cpu):.0f} µs per sign-in "
        f"({m.bulk_sign_in.total:.1f} commands run, scripts' insides included), "
        f"{m.bulk_checks.redis_cpu_us(m.idle_cpu):.1f} µs per cold read (one at a time); "
        f"idle {m.idle_cpu * 1e3:.1f} ms per second, taken off"
    )
    print(f"\n  Redis memory per session: {m.memory.used_per_session:.0f} B (INFO used_memory growth / sessions)")
    for kind, (keys, size) in m.memory.kinds.items():
        ttl = m.memory.ttls.get(kind, -1)
        lives = f"{ttl / 3600:.0f} h" if ttl >= 3600 else f"{ttl:.0f} s"
        print(f"    {kind:<28}{keys:>6.2f} keys {size:>7.0f} B per session (MEMORY USAGE), TTL {lives}")
    print(f"  replica cache per cached session: {m.rss_growth:.0f} B (resident growth / sessions)")
    print(
        f"\n  invalidation feed, each replica: {m.feed_messages:.2f} messages per sign-out, "
        f"{m.feed_bytes:.0f} B each (RESP)"
    )
    for f in fanout:
        print(
            f"  cluster of {f.nodes} masters, {f.subscribers} subscribers, {f.how:<8}: "
            f"{f.bus_messages:.2f} bus messages, {f.bus_bytes:.0f} B on the bus per message; "
            f"{f.subscriber_bytes:.0f} B to each subscriber"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="how many of each step are measured")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions for the memory figures")
    parser.add_argument("--publishes", type=int, default=2000, help="messages per cluster fan-out run")
    parser.add_argument("--no-cluster", action="store_true", help="skip the Redis Cluster fan-out")
    args = parser.parse_args()
    for binary in ("redis-server", "redis-cli"):
        require_binary(binary)
    fanout: list[Fanout] = []
    cluster_version = ""
    with scratch("authgate-capacity-") as (tmp, procs):
        measured = measure_steps(args, tmp, procs)
        for proc in reversed(procs):
            proc.stop()
        procs.clear()
        if not args.no_cluster:
            cluster = ClusterBench(tmp / "cluster")
            try:
                payload = Ticket.new().session_id  # what a sign-out publishes: the session id
                run: Callable[[bool], Fanout] = lambda sharded: cluster.measure(  # noqa: E731
                    INVALIDATION_CHANNEL, payload, args.publishes, sharded=sharded
                )
                fanout = [run(False), run(True)]
                cluster_version = str(next(iter(cluster.clients.values())).info("server")["redis_version"])
            finally:
                cluster.close()
        print_report(args, measured, fanout, cluster_version)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
