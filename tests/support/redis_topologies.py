"""Real Redis topologies on loopback: standalone, Sentinel (1 master, 1 replica, 3 sentinels) and a
3-master Cluster, each started once per test session and stopped at its end.

Use the fixtures (``redis_standalone``, ``redis_sentinel``, ``redis_cluster``) by importing their
``*_fixture`` functions into a test module or conftest. Every wait is
bounded (``wait_for``); readiness is read from the servers themselves through ``redis-cli``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.procs import Proc, free_port, require_binary, wait_for
from tests.support.servers import start_redis

SENTINEL_MASTER = "mymaster"


def redis_cli(port: int, *args: str, timeout: float = 5.0) -> str:
    """One command through the real ``redis-cli`` against 127.0.0.1:port; '' if it fails."""
    binary = require_binary("redis-cli")
    try:
        done = subprocess.run(
            [binary, "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout if done.returncode == 0 else ""


def info_field(text: str, name: str) -> str:
    """``name``'s value in the output of INFO or CLUSTER INFO ('' when absent)."""
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key == name:
            return value
    return ""


def sentinel_master_field(port: int, name: str) -> str:
    """A field of ``SENTINEL MASTER`` as seen by the sentinel on ``port`` ('' when unknown)."""
    lines = redis_cli(port, "SENTINEL", "MASTER", SENTINEL_MASTER).splitlines()
    return dict(zip(lines[::2], lines[1::2], strict=False)).get(name, "")


@dataclass
class Topology:
    kind: str
    url: str
    procs: list[Proc] = field(default_factory=list)
    #: client-facing ports: the data nodes (master first), then any sentinels
    ports: list[int] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def dump_logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()}" for p in self.procs)


def start_standalone(tmp: Path) -> Topology:
    r = start_redis(tmp, "standalone")
    return Topology("standalone", r.url, [r.proc], [r.port])


def start_sentinel(
    tmp: Path, *, sentinels: int = 3, down_after_ms: int = 2000, failover_timeout_ms: int = 10000, quorum: bool = False
) -> Topology:
    """With ``quorum``, also wait until the sentinels know each other (needed for a failover).

    ``failover_timeout_ms`` also paces Sentinel's retries: an election that splits the votes is given
    up after it, and the next attempt comes twice that long after the last one."""
    sentinel_bin = require_binary("redis-sentinel")
    # No 5 s wait for more replicas before a diskless full sync.
    master = start_redis(tmp, "sentinel-master", "--repl-diskless-sync-delay", "0")
    topo = Topology("sentinel", "", [master.proc], [master.port])
    try:
        replica = start_redis(tmp, "sentinel-replica", "--replicaof", "127.0.0.1", str(master.port))
        topo.procs.append(replica.proc)
        topo.ports.append(replica.port)
        for i in range(sentinels):
            port = free_port()
            d = tmp / f"sentinel-{i}"
            d.mkdir(parents=True, exist_ok=True)
            conf = d / "sentinel.conf"  # sentinel rewrites its own config: one writable file each
            conf.write_text(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                f'dir "{d}"\n'
                f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} {down_after_ms}\n"
                f"sentinel failover-timeout {SENTINEL_MASTER} {failover_timeout_ms}\n"
            )
            proc = Proc(f"sentinel-{i}", [sentinel_bin, str(conf)], log_dir=tmp).start()
            topo.procs.append(proc)
            proc.wait_port(port)
            topo.sentinel_ports.append(port)

        wait_for(
            lambda: info_field(redis_cli(replica.port, "INFO", "replication"), "master_link_status") == "up",
            timeout=15,
            what="the replica to sync with the master",
        )
        for port in topo.sentinel_ports:
            wait_for(
                lambda port=port: (
                    redis_cli(port, "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER).split()
                    == ["127.0.0.1", str(master.port)]
                ),
                timeout=15,
                what=f"sentinel on {port} to know the master",
            )
        wait_for(
            lambda: info_field(redis_cli(master.port, "INFO", "replication"), "connected_slaves") == "1",
            timeout=15,
            what="the master to see its replica",
        )
        if quorum:
            for port in topo.sentinel_ports:
                wait_for(
                    lambda port=port: (
                        redis_cli(port, "SENTINEL", "CKQUORUM", SENTINEL_MASTER).startswith(f"OK {sentinels} usable")
                        and sentinel_master_field(port, "num-slaves") == "1"
                    ),
                    timeout=20,
                    what=f"sentinel on {port} to see the other sentinels and the replica",
                )
    except BaseException:
        topo.stop()
        raise
    hosts = ",".join(f"127.0.0.1:{p}" for p in topo.sentinel_ports)
    topo.url = f"redis+sentinel://{hosts}/{SENTINEL_MASTER}/0"
    return topo


def start_cluster(tmp: Path, *, masters: int = 3) -> Topology:
    cli = require_binary("redis-cli")
    topo = Topology("cluster", "")
    try:
        for i in range(masters):
            node = start_redis(
                tmp,
                f"cluster-{i}",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "3000",
                # An explicit bus port: the default (port + 10000) may be taken or beyond 65535.
                "--cluster-port",
                str(free_port()),
            )
            topo.procs.append(node.proc)
            topo.ports.append(node.port)
        create = subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in topo.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{create.stdout}\n{create.stderr}")
        for port in topo.ports:
            wait_for(
                lambda port=port: info_field(redis_cli(port, "CLUSTER", "INFO"), "cluster_state") == "ok",
                timeout=20,
                what=f"cluster_state:ok on node {port}",
            )
            wait_for(
                lambda port=port: info_field(redis_cli(port, "CLUSTER", "INFO"), "cluster_known_nodes") == str(masters),
                timeout=20,
                what=f"node {port} to know every node",
            )
    except BaseException:
        topo.stop()
        raise
    topo.url = f"redis+cluster://127.0.0.1:{topo.ports[0]}"
    return topo


@pytest.fixture(scope="session", name="redis_standalone")
def redis_standalone_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topo = start_standalone(tmp_path_factory.mktemp("redis-standalone"))
    yield topo
    topo.stop()


@pytest.fixture(scope="session", name="redis_sentinel")
def redis_sentinel_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topo = start_sentinel(tmp_path_factory.mktemp("redis-sentinel"))
    yield topo
    topo.stop()


@pytest.fixture(scope="session", name="redis_cluster")
def redis_cluster_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topo = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield topo
    topo.stop()
