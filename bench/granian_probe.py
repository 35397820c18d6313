"""granian against the wire door, same run: ``python -m bench.granian_probe --granian PATH``.

granian (Rust I/O; its own RSGI interface) is not one of authgate's dependencies: install it in a
venv of its own (``python3 -m venv /tmp/gr && /tmp/gr/bin/pip install granian``) and name its
``granian`` binary. Both servers answer with the gateway's 14 response headers and no decision,
one worker each on the server CPU, under the same wrk load, alternating; nginx ``return 200`` is
the anchor. docs/performance.md has the figures and what was decided.
"""

from __future__ import annotations

import argparse
import json
import os

from bench.baselines import ROOT, children, nginx_return_200, pin, scratch, wire_floor
from bench.load import SERVER_CPU, wrk
from tests.support.procs import Proc, free_port

HEADERS = [
    ("x-authentik-username", "alice"),
    ("x-authentik-groups", "admins|users"),
    ("x-authentik-email", "alice@corp.test"),
    ("x-authentik-name", "Alice"),
    ("x-authentik-uid", "0123456789abcdef"),
    ("x-authentik-jwt", "eyJ" + "a" * 800),
    ("x-authentik-meta-jwks", "http://idp.test/jwks"),
    ("x-authentik-meta-outpost", "authgate"),
    ("x-authentik-meta-provider", "authgate"),
    ("x-authentik-meta-app", "app"),
    ("x-authentik-meta-version", "authgate/1"),
    ("remote-user", "alice"),
    ("remote-groups", "admins,users"),
    ("remote-email", "alice@corp.test"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--granian", required=True, help="the granian binary (a venv of its own)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with scratch("authgate-granian-") as (tmp, procs):
        headers_file = tmp / "headers.json"
        headers_file.write_text(json.dumps(HEADERS))
        env = {**os.environ, "BENCH_HEADERS_FILE": str(headers_file), "PYTHONPATH": str(ROOT)}
        port = free_port()
        argv = [args.granian, "--interface", "rsgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        argv += ["--runtime-threads", "1", "--log-level", "warning", "bench.rsgi_floor:app"]
        granian = Proc("granian", argv, log_dir=tmp, cwd=ROOT, env=env).start().wait_port(port)
        procs.append(granian)
        for pid in children(granian):  # granian's process and its worker
            pin(pid, SERVER_CPU)
        floor, floor_url = wire_floor(tmp, env)
        nginx, nginx_url = nginx_return_200(tmp)
        procs += [floor, nginx]
        urls = {"granian RSGI, no decision": f"http://127.0.0.1:{port}/", "wire door, no decision": floor_url}
        urls["nginx return 200"] = nginx_url
        cookie = {"Cookie": "authgate_session=" + "c" * 120}
        for url in urls.values():
            wrk(url, cookie, 2, 32)
        runs: dict[str, list[float]] = {name: [] for name in urls}
        for _ in range(args.rounds):
            for name, url in urls.items():
                runs[name].append(wrk(url, cookie, args.seconds, 32)["rps"])
        nginx_rps = sorted(runs["nginx return 200"])[len(runs["nginx return 200"]) // 2]
        for name, values in runs.items():
            med = sorted(values)[len(values) // 2]
            print(f"  {name:<28}{med:>10.0f} req/s (median of {values}), {med / nginx_rps:.2f}x of nginx")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
