"""`make capacity` keeps working: one small run of bench/capacity.py (not a measurement).

docs/scaling.md reads its figures; this proves the script still starts its servers and a Redis
Cluster, signs in, refreshes, checks and signs out through the real flow, and reports every
figure. The counts that do not depend on the machine are checked too: a cold check is one GET,
a cached check none, a sign-out one message to each replica, and a classic PUBLISH on a
3-master cluster goes to the two other masters where SPUBLISH goes to none.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]


def test_the_capacity_script_runs_and_reports_every_figure() -> None:
    for binary in ("redis-server", "redis-cli", "ss"):
        require_binary(binary)
    argv = [sys.executable, "-m", "bench.capacity", "--repeat", "2", "--sessions", "6", "--publishes", "100"]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    for figure in (
        r"standalone redis_version \d+\.\d+\.\d+, cluster redis_version \d+\.\d+\.\d+",
        r"sign-in \(start \+ callback\)\s+\d+\.\d\d\s+\d+\s+.*evalsha",
        r"refresh \(the check that does it\)\s+\d+\.\d\d\s+\d+\s+.*set",
        r"cold check\s+1\.00\s+get 1\.00$",
        r"cached check\s+0\.00\s+-$",
        r"sign-out\s+\d+\.\d\d\s+\d+\s+.*publish 1\.00",
        r"heartbeat: [\d.]+ PING per replica per second",
        r"Redis CPU: -?\d+ µs per sign-in",
        r"Redis memory per session: \d+ B",
        r"session ag:\{id\}:s\s+1\.00 keys",
        r"replica cache per cached session: -?\d+ B",
        r"invalidation feed, each replica: 1\.00 messages per sign-out, \d+ B each",
        r"PUBLISH : 2\.00 bus messages, \d+ B on the bus per message",
        r"SPUBLISH: 0\.00 bus messages, \d+ B on the bus per message",
    ):
        assert re.search(figure, out, re.M), f"{figure!r} missing from:\n{out}"
