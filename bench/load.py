"""Driving load: wrk on its own CPU, one request shape or many sessions round-robin (a Lua script).

The server under test and wrk never share a core on a machine with two or more; the same wrk
options and the same script are used against authgate and against the bare app, so the ratio
compares like with like.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

SERVER_CPU, LOAD_CPU = 1, 0


def pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {cpu})


def round_robin_script(path: Path, cookies: list[str]) -> Path:
    """A wrk Lua script that sends each request with the next of ``cookies``."""
    quoted = ",\n".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in cookies)
    path.write_text(
        f"local cookies = {{\n{quoted}\n}}\n"
        "local n, i = #cookies, 0\n"
        "request = function()\n"
        "  i = i % n + 1\n"
        '  wrk.headers["Cookie"] = cookies[i]\n'
        "  return wrk.format()\n"
        "end\n"
    )
    return path


def wrk(
    url: str, headers: dict[str, str], seconds: int, connections: int, *, script: Path | None = None
) -> dict[str, float]:
    """req/s, p50 and p99 (ms) of one wrk run; any non-2xx answer aborts the benchmark."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        argv = ["taskset", "-c", str(LOAD_CPU), *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} failed responses against {url}:\n{out}")

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {"rps": rps, "requests": requests, "p50": pct("50"), "p99": pct("99")}
