"""Starting and stopping real processes on free loopback ports, with bounded waits."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from authgate.demo.devstack import free_port, port_open

__all__ = ["IN_CI", "Proc", "free_port", "frozen", "port_open", "require_binary", "unread_bytes", "wait_for"]

IN_CI = bool(os.environ.get("CI"))


def wait_for(condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds (every wait is bounded)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _stopped(pid: int) -> bool:
    """Every thread of ``pid`` is stopped (state T in /proc): a signal's delivery is asynchronous."""
    tasks = Path(f"/proc/{pid}/task")
    states = [(t / "stat").read_text().rpartition(")")[2].split()[0] for t in tasks.iterdir()]
    return bool(states) and all(state in ("T", "t") for state in states)


def unread_bytes(pid: int, remote_port: int) -> int:
    """Bytes the kernel holds, unread, on ``pid``'s TCP connections to ``remote_port`` on loopback
    (what a frozen process has been sent and not yet read: /proc/<pid>/net/tcp's rx_queue)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    unread = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                unread += int(fields[4].split(":")[1], 16)
    return unread


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the block: the kernel still queues what reaches its
    sockets, and it all becomes ready at once when it is thawed (SIGCONT) at the end."""
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: _stopped(pid), timeout=5, what=f"process {pid} to stop")
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def require_binary(name: str, *candidates: str) -> str:
    """The path of a real binary the tests need; in CI a missing one fails instead of skipping."""
    import pytest

    for cand in (name, *candidates):
        path = shutil.which(cand) or (cand if os.path.isabs(cand) and os.access(cand, os.X_OK) else None)
        if path:
            return path
    bindir = Path(sys.executable).parent
    if (bindir / name).exists():
        return str(bindir / name)
    if IN_CI:
        pytest.fail(f"{name} is required in CI but not installed (see .ci/run)")
    pytest.skip(f"{name} is not installed")
    raise AssertionError  # unreachable


class Proc:
    """A child process with its output in a log file; stopped (and killed if need be) on ``stop``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.popen = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
        )
        log.close()
        return self

    def wait_port(self, port: int, timeout: float = 20.0) -> Proc:
        def ready() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()}")
            return port_open(port)

        wait_for(ready, timeout=timeout, what=f"{self.name} on port {port}")
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
