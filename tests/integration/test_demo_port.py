"""``authgate demo`` on a port another program holds: it says so and starts nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.support.procs import free_port
from tests.support.servers import ROOT


def test_a_taken_port_fails_at_once_with_a_sentence_naming_it_and_how_to_choose_another() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "authgate", "demo", "--port", str(port)],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"port {port} is already in use" in proc.stderr
    assert "authgate demo --port " in proc.stderr and "make demo PORT=" in proc.stderr
    assert "ready" not in proc.stdout, "nothing was started, nothing claims to be ready"


def test_a_port_out_of_range_is_refused_the_same_way() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "authgate", "demo", "--port", "70000"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "port 70000 is not a TCP port" in proc.stderr


def test_make_demo_passes_port_on() -> None:
    port = str(free_port())
    dry = subprocess.run(
        ["make", "-n", "demo", f"PORT={port}"], check=True, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert f".venv/bin/authgate demo --port {port}" in dry.stdout
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    default = subprocess.run(["make", "-n", "demo"], check=True, cwd=ROOT, env=env, capture_output=True, text=True)
    assert ".venv/bin/authgate demo --port 8080" in default.stdout
