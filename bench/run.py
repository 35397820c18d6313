"""authgate's benchmark: the auth check against a bare ASGI app, in the same run, on the same server.

    make bench            (or: .venv/bin/python -m bench.run --seconds 5 --rounds 3 --sessions 2000)

Starts its own redis-server, a real OIDC provider (oidc-provider-mock), authgate workers (the
session cache on, and off so every check reads Redis) and the bare app (same uvicorn, same
options), signs in through the real flow, then loads each with wrk, alternating with the bare app:

- warm: one session, cache on (the hot path);
- cold: one session, cache off (every check reads and opens the session in Redis);
- each as the image ships it (the wire door, the hot path compiled by mypyc: setup.py), and again
  from the source interpreted (``-source``) and through uvicorn's own protocol (``-asgi``);
- many users: ``--sessions`` distinct sessions, each request with the next (a wrk Lua script),
  cache on and cache off, against the bare app driven by the same script.

Prints throughput, p50/p99 latency, the ratio to the bare app, Redis commands per check (INFO
commandstats), the cache hit rate, Redis memory per session (MEMORY USAGE), the worker's resident
memory and its growth per cached session, and complete sign-ins per second end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import httpx
import redis as redis_lib

import tools.compiled
from bench.baselines import ROOT, bare_app, children, cpu_seconds, nginx_return_200, scratch, wire_floor
from bench.load import LOAD_CPU, SERVER_CPU, pin, round_robin_script, wrk
from bench.signins import sign_in_many, sign_in_rate
from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie, sign_in_direct
from tests.support.servers import Gateway, gateway_env, start_gateway, start_mock_idp, start_redis

Run = dict[str, float]


def _decoded(response: httpx.Response) -> list[tuple[str, str]]:
    """The response's headers as sent, minus the ones uvicorn adds itself."""
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in response.headers.raw if n.lower() != b"date"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Counts:
    """Redis commands (all, and GETs) between two readings of INFO commandstats."""

    def __init__(self, client: redis_lib.Redis) -> None:
        self.client = client

    def read(self) -> tuple[int, int]:
        stats = self.client.info("commandstats")
        total = sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_memory"))
        return total, int(stats.get("cmdstat_get", {}).get("calls", 0))


def with_cpu(run: Callable[[], Run], pids: list[int]) -> Run:
    """``run``, with the CPU time ``pids`` (a server's processes) spent per request (µs)."""
    cpu = sum(cpu_seconds(pid) for pid in pids)
    result = run()
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu
    return {**result, "cpu": cpu / result["requests"] * 1e6}


def measured(counts: Counts, run: Callable[[], Run], pid: int) -> Run:
    """``run``, with the Redis commands and GETs it caused per request, and the CPU time the
    server process spent per request (µs)."""
    before = counts.read()
    result = with_cpu(run, [pid])
    after, n = counts.read(), result["requests"]
    return {**result, "commands": (after[0] - before[0]) / n, "gets": (after[1] - before[1]) / n}


def median(runs: list[Run], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def print_rows(label: str, runs: list[Run]) -> None:
    for i, r in enumerate(runs, 1):
        print(f"  round {i} {label:<26}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each comparison")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=2000, help="sessions of the many-users run (0: skip it)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="another gateway setting")
    parser.add_argument("--no-sign-in-bench", action="store_true", help="skip the sign-in rate")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (scripts/bootstrap does it)")

    with scratch("authgate-bench-") as (tmp, procs):
        redis = start_redis(tmp)
        procs.append(redis.proc)
        idp = start_mock_idp(tmp)
        procs.append(idp.proc)
        extra = dict(item.split("=", 1) for item in args.set)
        gateways: dict[str, Gateway] = {}
        # As the image ships it: the wire door (authgate/web/wire.py), the hot path compiled by mypyc
        # (setup.py). For comparison, the same source interpreted, and uvicorn's own protocol (the ASGI door).
        compiled = tools.compiled.build()
        doors = (
            ("warm", "15", "true", compiled),
            ("cold", "0", "true", compiled),
            ("warm-source", "15", "true", ROOT),
            ("cold-source", "0", "true", ROOT),
            ("warm-asgi", "15", "false", ROOT),
            ("cold-asgi", "0", "false", ROOT),
        )
        for name, ttl, wire, root in doors:
            env = gateway_env(
                idp.issuer, redis_url=redis.url, log_level="warning", session_cache_ttl=ttl, wire=wire, **extra
            )
            gateways[name] = start_gateway(tmp, env, name=f"authgate-{name}", root=root)
            procs.append(gateways[name].proc)
            assert gateways[name].proc.popen is not None
            pin(gateways[name].proc.popen.pid, SERVER_CPU)
        origin = f"http://app.test:{gateways['warm'].port}"
        with Browser() as b:
            sign_in_direct(b, origin)
            cookie = session_cookie(b)
        # What the nginx recipe sends (deploy/nginx/npm-advanced.conf).
        headers = {
            "X-Original-URL": f"{origin}/dashboard",
            "X-Original-Method": "GET",
            "X-Original-Host": "app.test",  # the host in origin, as nginx gives it ($host)
        }
        urls = {name: f"{gw.url}{PREFIX}/auth/nginx" for name, gw in gateways.items()}
        for url in urls.values():
            answer = httpx.get(url, headers={**headers, "Cookie": cookie})
            assert answer.status_code == 200 and answer.headers.get("x-authentik-username") == "alice", answer
        headers_file = tmp / "headers.json"
        headers_file.write_text(json.dumps(_decoded(answer)))
        bare, bare_url = bare_app("bare", "bench.bare_app:app", tmp)
        headers_env = {**os.environ, "BENCH_HEADERS_FILE": str(headers_file)}
        same, same_url = bare_app("bare-headers", "bench.bare_app:app_with_headers", tmp, headers_env)
        nginx, nginx_url = nginx_return_200(tmp)
        floor, floor_url = wire_floor(tmp, headers_env, compiled)
        procs += [bare, same, nginx, floor]
        pids = {name: gw.proc.popen.pid for name, gw in gateways.items() if gw.proc.popen is not None}
        counts = Counts(redis_lib.Redis.from_url(redis.url))
        one = {**headers, "Cookie": cookie}
        secs, conns = args.seconds, args.connections

        def load(url: str, hdrs: dict[str, str], script: Path | None = None) -> Callable[[], Run]:
            return lambda: wrk(url, hdrs, secs, conns, script=script)

        nginx_pids = children(nginx)  # the master and its one worker
        for url in (*urls.values(), bare_url, same_url, nginx_url, floor_url):
            wrk(url, one, 2, conns)  # warm-up
        results: dict[str, list[Run]] = {k: [] for k in (*urls, "bare", "same", "nginx", "floor")}
        for _ in range(args.rounds):  # alternating, so that a noisy moment touches every figure alike
            results["warm"].append(measured(counts, load(urls["warm"], one), pids["warm"]))
            results["nginx"].append(with_cpu(load(nginx_url, one), nginx_pids))
            results["warm-source"].append(measured(counts, load(urls["warm-source"], one), pids["warm-source"]))
            results["warm-asgi"].append(measured(counts, load(urls["warm-asgi"], one), pids["warm-asgi"]))
            results["bare"].append(wrk(bare_url, one, secs, conns))
            results["cold"].append(measured(counts, load(urls["cold"], one), pids["cold"]))
            results["cold-source"].append(measured(counts, load(urls["cold-source"], one), pids["cold-source"]))
            results["cold-asgi"].append(measured(counts, load(urls["cold-asgi"], one), pids["cold-asgi"]))
            results["same"].append(wrk(same_url, one, secs, conns))
            results["floor"].append(with_cpu(load(floor_url, one), [floor.popen.pid] if floor.popen else []))

        many: dict[str, list[Run]] = {"warm": [], "cold": [], "bare": []}
        rss_growth = 0.0
        if args.sessions:
            warm_pid = gateways["warm"].proc.popen.pid  # type: ignore[union-attr]
            cookies = sign_in_many(origin, args.sessions, parallel=8)
            script = round_robin_script(tmp / "sessions.lua", cookies)
            rss_before = rss_kib(warm_pid)
            for _ in range(args.rounds):
                many["warm"].append(measured(counts, load(urls["warm"], headers, script), pids["warm"]))
                many["bare"].append(wrk(bare_url, headers, secs, conns, script=script))
                many["cold"].append(measured(counts, load(urls["cold"], headers, script), pids["cold"]))
            rss_growth = (rss_kib(warm_pid) - rss_before) * 1024 / args.sessions

        session_keys = list(counts.client.scan_iter(match="ag:{*}:s"))
        per_session = statistics.mean(counts.client.memory_usage(k) or 0 for k in session_keys)
        index_keys = list(counts.client.scan_iter(match="ag:idx:*"))
        per_index = statistics.mean(counts.client.memory_usage(k) or 0 for k in index_keys) if index_keys else 0
        worker_rss = rss_kib(gateways["warm"].proc.popen.pid)  # type: ignore[union-attr]
        bare_rss = rss_kib(bare.popen.pid) if bare.popen else 0
        sign_ins = 0.0 if args.no_sign_in_bench else sign_in_rate(origin, 8.0, 4)

        print(
            f"\nauthgate benchmark — {os.cpu_count()} CPUs (servers on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}), "
            f"wrk -t1 -c{conns}, {args.rounds} rounds x {secs}s, alternating with the bare app"
        )
        print(f"{'':36}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
        print_rows("warm (cache on)", results["warm"])
        print_rows("warm, not compiled", results["warm-source"])
        print_rows("warm, uvicorn's protocol", results["warm-asgi"])
        print_rows("cold (cache off)", results["cold"])
        print_rows("cold, not compiled", results["cold-source"])
        print_rows("cold, uvicorn's protocol", results["cold-asgi"])
        print_rows("bare ASGI app", results["bare"])
        print_rows("bare + same headers", results["same"])
        print_rows("wire door, no decision", results["floor"])
        print_rows("nginx return 200", results["nginx"])
        bare_rps, nginx_rps = median(results["bare"], "rps"), median(results["nginx"], "rps")
        for name in ("warm", "warm-source", "warm-asgi", "cold", "cold-source", "cold-asgi"):
            rps = median(results[name], "rps")
            print(
                f"\n  {name + ':':<13} {rps / nginx_rps:.2f}x of nginx return 200, "
                f"{rps / bare_rps:.2f}x of the bare app, {median(results[name], 'cpu'):.1f} µs CPU per check, "
                f"{rps:.0f} req/s (median)",
                end="",
            )
        floor_rps = median(results["floor"], "rps")
        print(f"\n  the wire door's floor (same headers, no decision): {floor_rps / nginx_rps:.2f}x of nginx")
        # CPU per request: steadier than req/s on a shared machine, where a round's rate moves with
        # what else runs; nginx's time per request over the gateway's is the rate ratio at full load.
        nginx_cpu, warm_cpu = median(results["nginx"], "cpu"), median(results["warm"], "cpu")
        print(
            f"  CPU per request: nginx {nginx_cpu:.1f} µs, the floor {median(results['floor'], 'cpu'):.1f} µs, "
            f"warm {warm_cpu:.1f} µs: nginx's over warm's {nginx_cpu / warm_cpu:.2f}"
        )
        same_rps = median(results["same"], "rps")
        print(
            f"  emitting the {len(json.loads(headers_file.read_text()))} response headers alone: "
            f"{same_rps / bare_rps:.2f}x of the bare app"
        )
        print(f"  Redis commands per check: warm {median(results['warm'], 'commands'):.4f}, ", end="")
        print(f"cold {median(results['cold'], 'commands'):.4f}")
        if args.sessions:
            print(f"\n  many users: {args.sessions} sessions, each request with the next (round robin)")
            print_rows("many users, cache on", many["warm"])
            print_rows("many users, cache off", many["cold"])
            print_rows("bare app, same script", many["bare"])
            many_bare = median(many["bare"], "rps")
            warm, cold = many["warm"], many["cold"]
            print(
                f"  cache on : ratio {median(warm, 'rps') / many_bare:.2f}x, "
                f"cache hit rate {1 - median(warm, 'gets'):.2%}, "
                f"Redis commands per check {median(warm, 'commands'):.4f}"
            )
            print(
                f"  cache off: ratio {median(cold, 'rps') / many_bare:.2f}x, "
                f"Redis commands per check {median(cold, 'commands'):.4f}"
            )
            print(f"  worker memory per cached session: {rss_growth:.0f} B (resident growth over the run / sessions)")
        print(f"\n  Redis memory per session: {per_session:.0f} B (+ {per_index:.0f} B per index key)")
        print(f"  worker resident memory: {worker_rss / 1024:.1f} MiB (bare app {bare_rss / 1024:.1f} MiB)")
        if args.no_sign_in_bench:
            print("  complete sign-ins per second: (skipped: --no-sign-in-bench)")
        else:
            print(f"  complete sign-ins per second: {sign_ins:.1f} (4 browsers, end to end, real IdP)")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
