"""The invalidation feed's fan-out, measured: what each subscriber (each replica) receives per
message, and what a Redis Cluster's nodes send one another for a classic ``PUBLISH`` (forwarded
to every node over the cluster bus) against a sharded ``SPUBLISH`` (Redis 7+: only the nodes of
the shard that owns the channel's slot).

Used by bench/capacity.py. The cluster bus's bytes are read from the kernel (``ss -tinp``: each
TCP socket's ``bytes_sent``) for the sockets of the cluster's own processes on its bus ports; the
gossip the bus carries anyway is measured over a quiet second and taken off.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hiredis
import redis as redis_lib

from authgate.store.subscription import command
from bench.counters import next_reply
from tests.support.procs import require_binary
from tests.support.redis_topologies import Topology, info_field, start_cluster


class Listener:
    """A subscriber as a replica's: (S)SUBSCRIBE on a connection of its own, counting what arrives."""

    def __init__(self, port: int, channel: str, *, sharded: bool = False) -> None:
        self.channel = channel.encode()
        self.kind = b"smessage" if sharded else b"message"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()
        self.sock.sendall(command(b"SSUBSCRIBE" if sharded else b"SUBSCRIBE", self.channel))
        reply = self._next(time.monotonic() + 10)
        assert isinstance(reply, list) and reply[0] in (b"subscribe", b"ssubscribe"), reply

    def _next(self, deadline: float) -> object:
        return next_reply(self.sock, self.reader, deadline, "the subscription")

    def until(self, marker: str, timeout: float = 30.0) -> tuple[int, int]:
        """Messages and their bytes (RESP, as sent) received before ``marker``'s message."""
        deadline, messages, size = time.monotonic() + timeout, 0, 0
        while True:
            reply = self._next(deadline)
            assert isinstance(reply, list) and reply[0] == self.kind and reply[1] == self.channel, reply
            if reply[2] == marker.encode():
                return messages, size
            messages += 1
            size += len(command(*reply))

    def close(self) -> None:
        self.sock.close()


def bus_bytes(pids: set[int], ports: set[int]) -> int:
    """Bytes ``pids`` have sent so far on their TCP sockets to or from ``ports``."""
    out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True, check=True, timeout=10).stdout
    total, owned = 0, False
    for line in out.splitlines():
        if not line[:1].isspace():  # a socket; its counters follow on the next line
            fields = line.split()
            local, peer = (int(a.rsplit(":", 1)[1]) for a in fields[3:5])
            owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            owned = bool(owners & pids) and bool({local, peer} & ports)
        elif owned and (m := re.search(r"bytes_sent:(\d+)", line)):
            total += int(m.group(1))
    return total


@dataclass
class Fanout:
    """One way of publishing on a cluster, per message published."""

    how: str
    nodes: int
    subscribers: int
    bus_bytes: float  # sent between the nodes, every node together (gossip taken off)
    bus_messages: float  # cluster-bus messages sent, every node together (CLUSTER INFO)
    subscriber_bytes: float  # received by each subscriber


def _run(client: redis_lib.Redis | Any, *args: str) -> Any:
    """A command redis-py has no typed method for (on a client or a pipeline)."""
    return client.execute_command(*args)


def _stat(client: redis_lib.Redis, name: str) -> int:
    text = _run(client, "CLUSTER", "INFO")
    return int(info_field(text.decode() if isinstance(text, bytes) else text, name) or 0)


def _owner(client: redis_lib.Redis, channel: str) -> int:
    """The port of the master that serves ``channel``'s hash slot."""
    slot = int(_run(client, "CLUSTER", "KEYSLOT", channel))
    for start, end, master, *_ in _run(client, "CLUSTER", "SLOTS"):
        if int(start) <= slot <= int(end):
            return int(master[1])
    raise RuntimeError(f"no master serves slot {slot}")


class ClusterBench:
    """A 3-master cluster on loopback (tests/support/redis_topologies.py) and its bus's counters."""

    def __init__(self, tmp: Path) -> None:
        require_binary("ss")
        self.topo: Topology = start_cluster(tmp)
        self.clients = {p: redis_lib.Redis(host="127.0.0.1", port=p) for p in self.topo.ports}
        self.pids = {p.popen.pid for p in self.topo.procs if p.popen is not None}
        self.bus_ports = {int(str(c.config_get("cluster-port")["cluster-port"])) for c in self.clients.values()}
        before = bus_bytes(self.pids, self.bus_ports)
        time.sleep(2.0)  # a quiet window: the gossip rate, not a condition to wait for
        self.gossip_per_second = (bus_bytes(self.pids, self.bus_ports) - before) / 2.0

    def measure(self, channel: str, payload: str, publishes: int, *, sharded: bool) -> Fanout:
        """``publishes`` messages of ``payload`` on ``channel``: classic PUBLISH from the first node
        with a subscriber on every node (as replicas spread over the masters), or SPUBLISH on the
        slot's owner with as many subscribers there (SSUBSCRIBE must be on the owner)."""
        ports = self.topo.ports
        target = _owner(self.clients[ports[0]], channel) if sharded else ports[0]
        listeners = [Listener(target if sharded else p, channel, sharded=sharded) for p in ports]
        publisher = self.clients[target]
        verb = "SPUBLISH" if sharded else "PUBLISH"
        stat = "cluster_stats_messages_publishshard_sent" if sharded else "cluster_stats_messages_publish_sent"
        try:
            sent = sum(_stat(c, stat) for c in self.clients.values())
            bus_before, start = bus_bytes(self.pids, self.bus_ports), time.monotonic()
            pipe = publisher.pipeline(transaction=False)
            for _ in range(publishes):
                _run(pipe, verb, channel, payload)
            pipe.execute()
            marker = f"end-{time.monotonic_ns()}"
            _run(publisher, verb, channel, marker)
            received = [listener.until(marker) for listener in listeners]
            elapsed = time.monotonic() - start
            bus = bus_bytes(self.pids, self.bus_ports) - bus_before - self.gossip_per_second * elapsed
            sent = sum(_stat(c, stat) for c in self.clients.values()) - sent
        finally:
            for listener in listeners:
                listener.close()
        assert all(n == publishes for n, _ in received), received
        return Fanout(
            how=verb,
            nodes=len(ports),
            subscribers=len(listeners),
            bus_bytes=max(bus, 0.0) / (publishes + 1),
            bus_messages=sent / (publishes + 1),
            subscriber_bytes=sum(b for _, b in received) / len(received) / publishes,
        )

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.topo.stop()
