"""`make bench` keeps working: one short run of every comparison it prints (not a measurement).

The figures are read by people (docs/performance.md); this only proves the benchmark still starts
its parts, signs in through the real flow, drives wrk with the round-robin script and reports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)  # a minute more when the compiled copy (tools/compiled.py) must be built first
def test_the_benchmark_runs_and_reports_every_figure() -> None:
    require_binary("wrk")
    argv = [sys.executable, "-m", "bench.run", "--seconds", "1", "--rounds", "1", "--sessions", "24"]
    out = subprocess.run(
        [*argv, "--no-sign-in-bench"], cwd=ROOT, capture_output=True, text=True, timeout=540, check=True
    ).stdout
    for figure in (
        *(
            rf"{door}: +\d+\.\d\dx of nginx return 200, \d+\.\d\dx of the bare app, "
            rf"\d+\.\d µs CPU per check, \d+ req/s \(median\)"
            for door in ("warm", "warm-source", "warm-asgi", "cold", "cold-source", "cold-asgi")
        ),
        r"the wire door's floor \(same headers, no decision\): \d+\.\d\dx of nginx",
        r"CPU per request: nginx \d+\.\d µs, the floor \d+\.\d µs, warm \d+\.\d µs: nginx's over warm's \d+\.\d\d",
        r"many users: 24 sessions",
        r"cache on : ratio \d+\.\d\dx, cache hit rate [\d.]+%, Redis commands per check [\d.]+",
        r"cache off: ratio \d+\.\d\dx, Redis commands per check [\d.]+",
        r"worker memory per cached session: -?\d+ B",
    ):
        assert re.search(figure, out), f"{figure!r} missing from:\n{out}"
    # The cold run reads the store for every check (the one figure here that is not a timing).
    cold = float(re.search(r"Redis commands per check: warm [\d.]+, cold ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    assert 0.99 <= cold <= 1.05, out
