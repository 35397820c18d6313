"""What one step cost: the commands Redis received for it (``MONITOR``: each command a client
sent, a round trip, apart from those a script ran inside Redis), or over a bulk run the commands
Redis ran (``INFO commandstats``, scripts' insides included) and Redis's CPU time (``INFO cpu``);
and a process's CPU time (``/proc/<pid>/task/*/schedstat``).

Used by bench/capacity.py. The commands a measurement or a connection's upkeep sends are kept
apart (``UPKEEP``): the subscription's heartbeat PING (one a second per replica, whatever the
load) is reported on its own, never charged to a sign-in or a check.
"""

from __future__ import annotations

import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import hiredis
import redis as redis_lib

from authgate.store.subscription import command

#: Not charged to a step: the measurement's own commands and a connection's setup and heartbeat.
UPKEEP = frozenset({"info", "memory", "ping", "echo", "client", "client|setinfo", "client|setname", "hello", "select"})
#: A MONITOR line: ``1701234567.123456 [0 127.0.0.1:50000] "GET" "key"`` (``[0 lua]`` from a script).
MONITOR_LINE = re.compile(r'[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"')


def next_reply(sock: socket.socket, reader: hiredis.Reader, deadline: float, what: str) -> object:
    """The next reply on a raw Redis connection, by ``deadline`` (``time.monotonic()``)."""
    while (reply := reader.gets()) is False:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)  # raises TimeoutError past the deadline
        if not data:
            raise ConnectionError(f"{what} closed")
        reader.feed(data)
    return reply


class Monitor:
    """Every command Redis runs, as MONITOR reports it, on a connection of its own."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()
        self.sock.sendall(command(b"MONITOR"))
        assert self._next(time.monotonic() + 10) == b"OK"

    def _next(self, deadline: float) -> object:
        return next_reply(self.sock, self.reader, deadline, "MONITOR's connection")

    def until(self, marker: str, timeout: float = 30.0) -> list[tuple[bool, str]]:
        """(run by a script?, command name) of every command before ``ECHO marker``."""
        deadline, seen = time.monotonic() + timeout, list[tuple[bool, str]]()
        while True:
            line = self._next(deadline)
            assert isinstance(line, bytes), line
            m = MONITOR_LINE.match(line.decode("utf-8", "replace"))
            if m is None:
                continue
            name = m.group(2).lower()
            if name == "echo" and f'"{marker}"' in line.decode("utf-8", "replace"):
                return seen
            seen.append((m.group(1) == "lua", name))

    def close(self) -> None:
        self.sock.close()


def commands(client: redis_lib.Redis) -> Counter[str]:
    """Calls so far by command name (``get``, ``evalsha``, ``client|setinfo``...), upkeep left out."""
    stats = client.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if name.removeprefix("cmdstat_") not in UPKEEP
        }
    )


def redis_cpu_seconds(client: redis_lib.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def cpu_ns(pid: int) -> int:
    """Nanoseconds on CPU so far, every thread of ``pid`` (schedstat: finer than the 10 ms of /proc/<pid>/stat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total


@dataclass
class Tally:
    """The sum of what every measured step cost, and how many steps."""

    steps: int = 0
    commands: Counter[str] = field(default_factory=Counter)  # sent by a client (MONITOR), or all run
    scripted: Counter[str] = field(default_factory=Counter)  # run by a script (MONITOR only)
    gateway_cpu_ns: int = 0
    redis_cpu_s: float = 0.0
    seconds: float = 0.0  # wall time of a bulk run

    def per_step(self, scripted: bool = False) -> dict[str, float]:
        """Commands per step by name, most frequent first (``scripted``: those scripts ran)."""
        n = max(self.steps, 1)
        return {name: calls / n for name, calls in (self.scripted if scripted else self.commands).most_common()}

    @property
    def total(self) -> float:
        return sum(self.commands.values()) / max(self.steps, 1)

    @property
    def gateway_cpu_us(self) -> float:
        return self.gateway_cpu_ns / max(self.steps, 1) / 1000

    def redis_cpu_us(self, idle_cpu_per_second: float) -> float:
        """Redis's CPU time per step, its housekeeping over the run's wall time taken off."""
        return (self.redis_cpu_s - idle_cpu_per_second * self.seconds) * 1e6 / max(self.steps, 1)


class Meter:
    """Measures steps: only what happens inside ``step()`` or ``bulk()`` is counted."""

    def __init__(self, client: redis_lib.Redis, monitor: Monitor) -> None:
        self.client = client
        self.monitor = monitor

    @contextmanager
    def step(self, tally: Tally, gateway_pid: int) -> Iterator[None]:
        """One step: the commands clients sent for it, and those its scripts ran (MONITOR)."""
        self._seen()  # whatever came before the step
        cpu = cpu_ns(gateway_pid)
        yield
        tally.gateway_cpu_ns += cpu_ns(gateway_pid) - cpu
        for scripted, name in self._seen():
            if name not in UPKEEP:
                (tally.scripted if scripted else tally.commands)[name] += 1
        tally.steps += 1

    def _seen(self) -> list[tuple[bool, str]]:
        marker = f"capacity-{time.monotonic_ns()}"
        self.client.echo(marker)
        return self.monitor.until(marker)

    @contextmanager
    def bulk(self, tally: Tally, gateway_pid: int, count: int) -> Iterator[None]:
        """``count`` steps at once: the commands Redis ran (scripts' insides too) and its CPU time.
        Close the monitor first: MONITOR costs Redis time of its own."""
        before, cpu, rcpu = commands(self.client), cpu_ns(gateway_pid), redis_cpu_seconds(self.client)
        start = time.monotonic()
        yield
        tally.seconds += time.monotonic() - start
        tally.gateway_cpu_ns += cpu_ns(gateway_pid) - cpu
        tally.redis_cpu_s += redis_cpu_seconds(self.client) - rcpu
        tally.commands.update(commands(self.client) - before)
        tally.steps += count


def quiet(client: redis_lib.Redis, seconds: float, sleep: Callable[[float], None]) -> tuple[float, float]:
    """Over ``seconds`` of quiet: PINGs Redis received per second (the replicas' heartbeats), and
    Redis's CPU seconds per second (its housekeeping, taken off a bulk run's CPU time)."""

    def pings() -> int:
        return int(client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))

    before, cpu = pings(), redis_cpu_seconds(client)
    sleep(seconds)
    return (pings() - before) / seconds, (redis_cpu_seconds(client) - cpu) / seconds
