"""authgate's benchmark: the hot path against a bare ASGI app, in the same run, on the same server.

    make bench            (or: .venv/bin/python -m bench.run --seconds 8 --rounds 3)

Starts its own redis-server, a real OIDC provider (oidc-provider-mock), one authgate worker and
the bare app (same uvicorn, same options), signs in once through the real flow, then loads
both with wrk, alternating A B A B. Prints throughput, p50/p99 latency, the ratio gateway/bare,
Redis commands per auth check (INFO commandstats), Redis memory per session (MEMORY USAGE),
the worker's resident memory, and complete sign-ins per second end to end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis as redis_lib

from tests.support.browser import Browser
from tests.support.flows import PREFIX, sign_in_direct
from tests.support.procs import Proc, free_port
from tests.support.servers import gateway_env, start_gateway, start_mock_idp, start_redis

ROOT = Path(__file__).resolve().parents[1]

UVICORN_OPTS = ["--no-access-log", "--log-level", "warning", "--no-server-header", "--no-proxy-headers"]


SERVER_CPU, LOAD_CPU = 1, 0  # on 2+ CPUs the server under test and wrk never share a core


def pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {cpu})


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        argv = ["taskset", "-c", str(LOAD_CPU), *argv]
    for name, value in headers.items():
        argv[-1:-1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} failed responses against {url}:\n{out}")

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {"rps": rps, "p50": pct("50"), "p99": pct("99")}


def _decoded(response: httpx.Response) -> list[tuple[str, str]]:
    """The response's headers as sent, minus the ones uvicorn adds itself."""
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in response.headers.raw if n.lower() != b"date"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def commands_total(client: redis_lib.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_memory"))


def sign_in_rate(origin: str, seconds: float, parallel: int) -> float:
    deadline = time.monotonic() + seconds

    def worker(_: int) -> int:
        done = 0
        while time.monotonic() < deadline:
            with Browser() as b:
                sign_in_direct(b, origin)
            done += 1
        return done

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        total = sum(pool.map(worker, range(parallel)))
    return total / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="A B rounds")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cache-ttl", default="15", help="AUTHGATE_SESSION_CACHE_TTL for the gateway (0: no cache)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another gateway setting, e.g. --set header_sets=authentik",
    )
    parser.add_argument("--no-sign-in-bench", action="store_true", help="skip the sign-in benchmark")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (scripts/bootstrap does it)")

    tmp = Path(tempfile.mkdtemp(prefix="authgate-bench-"))
    procs: list[Proc] = []
    try:
        redis = start_redis(tmp)
        procs.append(redis.proc)
        idp = start_mock_idp(tmp)
        procs.append(idp.proc)
        extra = dict(item.split("=", 1) for item in args.set)
        env = gateway_env(
            idp.issuer, redis_url=redis.url, log_level="warning", session_cache_ttl=args.cache_ttl, **extra
        )
        gateway = start_gateway(tmp, env)
        procs.append(gateway.proc)
        origin = f"http://app.test:{gateway.port}"
        with Browser() as b:
            sign_in_direct(b, origin)
            cookie = "; ".join(f"{c.name}={c.value}" for c in b.http.cookies.jar if c.name == "authgate_session")
        # What the nginx recipe sends (deploy/nginx/npm-advanced.conf).
        check_headers = {
            "X-Original-URL": f"{origin}/dashboard",
            "X-Original-Method": "GET",
            "X-Original-Host": "app.test",  # the host in origin, as nginx gives it ($host)
            "Cookie": cookie,
        }
        check_url = f"{gateway.url}{PREFIX}/auth/nginx"
        answer = httpx.get(check_url, headers=check_headers)
        assert answer.status_code == 200 and answer.headers.get("x-authentik-username") == "alice", answer
        headers_file = tmp / "headers.json"
        headers_file.write_text(json.dumps(_decoded(answer)))
        bare_env = {**os.environ, "BENCH_HEADERS_FILE": str(headers_file)}
        bare_port, headers_port = free_port(), free_port()
        bare = Proc(
            "bare",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(bare_port),
                "--host",
                "127.0.0.1",
                *UVICORN_OPTS,
            ],
            log_dir=tmp,
            cwd=ROOT,
        ).start()
        same = Proc(
            "bare-headers",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app_with_headers",
                "--port",
                str(headers_port),
                "--host",
                "127.0.0.1",
                *UVICORN_OPTS,
            ],
            log_dir=tmp,
            cwd=ROOT,
            env=bare_env,
        ).start()
        for proc, port in ((bare, bare_port), (same, headers_port)):
            proc.wait_port(port)
            procs.append(proc)
            assert proc.popen is not None
            pin(proc.popen.pid, SERVER_CPU)
        assert gateway.proc.popen is not None
        pin(gateway.proc.popen.pid, SERVER_CPU)
        bare_url = f"http://127.0.0.1:{bare_port}/outpost.goauthentik.io/auth/nginx"
        same_url = f"http://127.0.0.1:{headers_port}/outpost.goauthentik.io/auth/nginx"
        client = redis_lib.Redis.from_url(redis.url)

        wrk(check_url, check_headers, 2, args.connections)  # warm-up
        wrk(bare_url, check_headers, 2, args.connections)
        wrk(same_url, check_headers, 2, args.connections)
        gw_runs, bare_runs, same_runs, per_check = [], [], [], []
        for _ in range(args.rounds):
            before = commands_total(client)
            r = wrk(check_url, check_headers, args.seconds, args.connections)
            calls = commands_total(client) - before
            per_check.append(calls / (r["rps"] * args.seconds))
            gw_runs.append(r)
            bare_runs.append(wrk(bare_url, check_headers, args.seconds, args.connections))
            same_runs.append(wrk(same_url, check_headers, args.seconds, args.connections))

        session_keys = list(client.scan_iter(match="ag:{*}:s"))
        per_session = statistics.mean(client.memory_usage(k) or 0 for k in session_keys) if session_keys else 0
        index_keys = list(client.scan_iter(match="ag:idx:*"))
        per_index = statistics.mean(client.memory_usage(k) or 0 for k in index_keys) if index_keys else 0
        assert gateway.proc.popen is not None
        worker_rss = rss_kib(gateway.proc.popen.pid)
        bare_rss = rss_kib(bare.popen.pid) if bare.popen else 0
        sign_ins = 0.0 if args.no_sign_in_bench else sign_in_rate(origin, 8.0, 4)

        gw_rps = statistics.median(r["rps"] for r in gw_runs)
        bare_rps = statistics.median(r["rps"] for r in bare_runs)
        print(
            f"\nauthgate benchmark — {os.cpu_count()} CPUs (servers on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}), "
            f"wrk -t1 -c{args.connections}, "
            f"{args.rounds} x {args.seconds}s each, alternating, session cache TTL {args.cache_ttl}s"
        )
        print(f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
        for i, (g, bb, sh) in enumerate(zip(gw_runs, bare_runs, same_runs, strict=True), 1):
            print(f"  round {i} authgate auth check{g['rps']:>10.0f}{g['p50']:>10.2f}{g['p99']:>10.2f}")
            print(f"  round {i} bare ASGI app     {bb['rps']:>10.0f}{bb['p50']:>10.2f}{bb['p99']:>10.2f}")
            print(f"  round {i} bare + same headers{sh['rps']:>9.0f}{sh['p50']:>10.2f}{sh['p99']:>10.2f}")
        same_rps = statistics.median(r["rps"] for r in same_runs)
        print(f"\n  ratio authgate / bare (median req/s): {gw_rps / bare_rps:.2f}x")
        print(
            f"  of which emitting the {len(json.loads(headers_file.read_text()))} response headers: "
            f"bare + same headers / bare = {same_rps / bare_rps:.2f}x; authgate / that = {gw_rps / same_rps:.2f}x"
        )
        print(f"  Redis commands per auth check:        {statistics.mean(per_check):.4f}")
        print(f"  Redis memory per session:             {per_session:.0f} B (+ {per_index:.0f} B per index key)")
        print(
            f"  worker resident memory:               {worker_rss / 1024:.1f} MiB (bare app {bare_rss / 1024:.1f} MiB)"
        )
        if args.no_sign_in_bench:
            print("  complete sign-ins per second:         (skipped: --no-sign-in-bench)")
        else:
            print(f"  complete sign-ins per second:         {sign_ins:.1f} (4 browsers, end to end, real IdP)")
        return 0
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
