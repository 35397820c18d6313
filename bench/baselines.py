"""The servers authgate is measured against in the same run: the bare ASGI app on uvicorn (the
same server and options as the gateway), the wire door's floor (its protocol answering with no
decision) and nginx answering ``return 200`` (nothing that answers over HTTP on the machine is
faster: the physical anchor). Each runs one worker on the server CPU.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.load import SERVER_CPU, pin
from tests.support.flows import PREFIX
from tests.support.procs import Proc, free_port, require_binary
from tests.support.servers import nginx_conf

ROOT = Path(__file__).resolve().parents[1]
UVICORN_OPTS = ["--no-access-log", "--log-level", "warning", "--no-server-header", "--no-proxy-headers"]


@contextmanager
def scratch(prefix: str) -> Iterator[tuple[Path, list[Proc]]]:
    """A scratch folder and the list of servers a benchmark starts in it: stopped, last first, and
    the folder removed, however the benchmark ends."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    procs: list[Proc] = []
    try:
        yield tmp, procs
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bare_app(name: str, app: str, tmp: Path, env: dict[str, str] | None = None) -> tuple[Proc, str]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--host", "127.0.0.1", *UVICORN_OPTS]
    proc = Proc(name, argv, log_dir=tmp, cwd=ROOT, env=env).start().wait_port(port)
    assert proc.popen is not None
    pin(proc.popen.pid, SERVER_CPU)
    return proc, f"http://127.0.0.1:{port}{PREFIX}/auth/nginx"


def wire_floor(tmp: Path, env: dict[str, str], root: Path = ROOT) -> tuple[Proc, str]:
    """The bare app with the gateway's headers through the wire door, no decision (bench/wire_floor.py),
    with the ``authgate`` package of ``root`` (the compiled copy: tools/compiled.py)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.wire_floor", str(port)]
    env = {**env, "PYTHONPATH": str(ROOT)}  # bench/ from here; authgate/ from root, the working directory
    proc = Proc("wire-floor", argv, log_dir=tmp, cwd=root, env=env).start().wait_port(port)
    assert proc.popen is not None
    pin(proc.popen.pid, SERVER_CPU)
    return proc, f"http://127.0.0.1:{port}{PREFIX}/auth/nginx"


def nginx_return_200(tmp: Path) -> tuple[Proc, str]:
    """nginx with one worker answering every request ``return 200`` (no body, no log)."""
    binary = require_binary("nginx", "/usr/sbin/nginx")
    port = free_port()
    d = tmp / "nginx-baseline"
    nginx_conf(
        d, f"access_log off;\nserver {{ listen 127.0.0.1:{port}; location / {{ return 200; }} }}", connections=1024
    )
    proc = Proc("nginx-baseline", [binary, "-p", str(d), "-c", str(d / "nginx.conf")], log_dir=tmp).start()
    proc.wait_port(port)
    for pid in children(proc):  # the worker, and the master with it
        pin(pid, SERVER_CPU)
    return proc, f"http://127.0.0.1:{port}{PREFIX}/auth/nginx"


def children(proc: Proc) -> list[int]:
    assert proc.popen is not None
    pids = [proc.popen.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == proc.popen.pid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
