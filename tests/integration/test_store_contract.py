"""One contract for every store: MemoryStore and RedisStore on standalone, Sentinel and Cluster.

Then RedisStore's failure behaviour against a real redis-server: killed, frozen, or a peer that
accepts connections and never answers. Calls fail with StoreUnavailable within the timeout and
succeed again by themselves once Redis is back. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from authgate.errors import StoreUnavailable
from authgate.session.tickets import Ticket
from authgate.store import MemoryStore, Store
from authgate.store.feed import HEARTBEAT
from authgate.store.keys import lock_key, meta_key, session_key
from authgate.store.redis import RedisStore
from tests.support.procs import free_port, frozen
from tests.support.redis_topologies import (
    SENTINEL_MASTER,
    Topology,
    info_field,
    redis_cli,
    redis_cluster_fixture,  # noqa: F401 - the fixture redis_cluster
    redis_sentinel_fixture,  # noqa: F401 - the fixture redis_sentinel
    redis_standalone_fixture,  # noqa: F401 - the fixture redis_standalone
    start_sentinel,
)
from tests.support.servers import Redis, start_redis

CALLERS = 50
REPLICAS = 5  # the concurrent callers are spread over this many clients, like gateway replicas
SHORT = 0.3  # seconds: a TTL meant to run out during the test
LONG = 60.0  # seconds: a TTL meant to outlive the test
CONTRACT_TIMEOUT = 2.0
FAIL_TIMEOUT = 0.5  # the store timeout of the failure tests
SLACK = 0.5  # how much later than its timeout a failing call may return


async def eventually(
    probe: Callable[[], Awaitable[bool]], *, timeout: float = 5.0, what: str | Callable[[], str] = "condition"
) -> None:
    """Poll ``probe`` until it returns True; fail after ``timeout`` seconds, saying ``what`` (called
    then, if a callable: what was last seen)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if await probe():
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.1)


async def timer(seconds: float) -> float:
    """Sleep ``seconds`` and say how long that took on this event loop.

    The bounds on how soon the store gives up are checked against such a timer started beside the
    work, not against the wall clock: on a starved machine (CI runs four test files on two cores) the
    loop can stall for most of a second, delaying the store's timeouts and the timer alike. A store
    that ignored its timeout is still caught."""
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return time.monotonic() - start


async def beside_a_timer(work: Awaitable[object], seconds: float) -> tuple[float, float]:
    """How long ``work`` took, and how long a ``timer(seconds)`` started beside it took."""
    start = time.monotonic()

    async def timed() -> float:
        await work
        return time.monotonic() - start

    took, fired = await asyncio.gather(timed(), timer(seconds))
    return took, fired


class Feed:
    """What ``Store.listen`` reported: the messages, and every change of liveness."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.live_changes: list[bool] = []

    def on_message(self, message: str) -> None:
        self.messages.append(message)

    def on_live(self, live: bool) -> None:
        self.live_changes.append(live)

    @property
    def live(self) -> bool:
        return bool(self.live_changes) and self.live_changes[-1]

    async def until(self, condition: Callable[[Feed], bool], what: str, timeout: float = 10.0) -> None:
        async def probe() -> bool:
            return condition(self)

        await eventually(probe, timeout=timeout, what=what)


@asynccontextmanager
async def listening(store: Store, channel: str) -> AsyncIterator[tuple[Feed, asyncio.Task[None]]]:
    feed = Feed()
    task = asyncio.create_task(store.listen(channel, feed.on_message, feed.on_live))
    try:
        yield feed, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)


async def gone(store: Store, key: str, what: str) -> None:
    async def probe() -> bool:
        return await store.get(key) is None

    await eventually(probe, timeout=5.0, what=what)


# --------------------------------------------------------------------------------------------
# The stores under contract


@pytest.fixture(params=["memory", "standalone", "sentinel", "cluster"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return ""
    topo: Topology = request.getfixturevalue(f"redis_{request.param}")
    return topo.url


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[list[Store]]:
    """Several clients of one store (for Redis: independent clients, as replicas would have)."""
    if not store_url:
        memory = MemoryStore()
        yield [memory] * REPLICAS
        return
    clients = [RedisStore.from_url(store_url, timeout=CONTRACT_TIMEOUT) for _ in range(REPLICAS)]
    try:
        yield list(clients)
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
def store(stores: list[Store]) -> Store:
    return stores[0]


@pytest.fixture
def tag() -> Callable[[str], str]:
    """Keys unique to this test, all in one hash slot (so expiry races compare one node's clock)."""
    slot = uuid.uuid4().hex

    def key(name: str) -> str:
        return f"test:{{{slot}}}:{name}"

    return key


async def test_ping_and_shared_flag(store: Store, store_url: str) -> None:
    await store.ping()
    assert store.shared is bool(store_url)


async def test_get_set_and_ttl_expiry(store: Store, tag: Callable[[str], str]) -> None:
    assert await store.get(tag("missing")) is None
    await store.set(tag("long"), b"kept", LONG)
    await store.set(tag("short"), b"\x00binary\xff", SHORT)
    assert await store.get(tag("long")) == b"kept"
    assert await store.get(tag("short")) == b"\x00binary\xff"
    await store.set(tag("long"), b"overwritten", LONG)
    assert await store.get(tag("long")) == b"overwritten"

    await gone(store, tag("short"), "a short TTL to expire")
    assert await store.get(tag("long")) == b"overwritten"


async def test_concurrent_gets_each_get_their_own_value(store: Store, tag: Callable[[str], str]) -> None:
    """Session reads of one loop turn share one connection and one write (authgate/store/pipeline.py):
    each caller must still get the reply to its own GET, large values and missing keys among them."""
    values = {tag(f"k{i}"): (b"%d:" % i) + b"x" * (i * 97 % 5000) for i in range(300)}
    for key, value in values.items():
        if not key.endswith("7"):  # some keys missing
            await store.set(key, value, LONG)
    keys = list(values) * 2
    replies = await asyncio.gather(*(store.get(key) for key in keys))
    assert replies == [None if key.endswith("7") else values[key] for key in keys]


async def test_set_replaces_the_ttl(store: Store, tag: Callable[[str], str]) -> None:
    await store.set(tag("k"), b"one", LONG)
    await store.set(tag("k"), b"two", SHORT)
    await gone(store, tag("k"), "a SET with a short TTL to replace the long one")


async def test_set_nx_exactly_once_under_concurrency(stores: list[Store], tag: Callable[[str], str]) -> None:
    key = tag("claim")
    results = await asyncio.gather(
        *(stores[i % REPLICAS].set_nx(key, f"caller-{i}".encode(), LONG) for i in range(CALLERS))
    )
    winners = [i for i, won in enumerate(results) if won]
    assert len(winners) == 1, results
    assert await stores[0].get(key) == f"caller-{winners[0]}".encode()
    assert await stores[1].set_nx(key, b"late", LONG) is False
    assert await stores[2].get(key) == f"caller-{winners[0]}".encode()


async def test_set_nx_again_after_expiry(store: Store, tag: Callable[[str], str]) -> None:
    key = tag("lease")
    assert await store.set_nx(key, b"first", SHORT) is True
    assert await store.set_nx(key, b"second", LONG) is False
    await gone(store, key, "the first lease to expire")
    assert await store.set_nx(key, b"second", LONG) is True
    assert await store.get(key) == b"second"


async def test_set_xx_replaces_only_what_is_there(store: Store, tag: Callable[[str], str]) -> None:
    """A refresh's write: it must not bring back a session deleted meanwhile (a sign-out)."""
    key = tag("session")
    assert await store.set_xx(key, b"resurrected", LONG) is False
    assert await store.get(key) is None
    await store.set(key, b"one", LONG)
    assert await store.set_xx(key, b"two", SHORT) is True
    assert await store.get(key) == b"two"
    await gone(store, key, "set_xx's own TTL to end it")
    assert await store.set_xx(key, b"three", LONG) is False


async def test_getdel_exactly_once_under_concurrency(stores: list[Store], tag: Callable[[str], str]) -> None:
    key = tag("state")
    await stores[0].set(key, b"login-state", LONG)
    results = await asyncio.gather(*(stores[i % REPLICAS].getdel(key) for i in range(CALLERS)))
    got = [r for r in results if r is not None]
    assert got == [b"login-state"], results
    assert await stores[0].get(key) is None
    assert await stores[0].getdel(key) is None


async def test_delete(store: Store, tag: Callable[[str], str]) -> None:
    await store.set(tag("a"), b"1", LONG)
    await store.set(tag("b"), b"2", LONG)
    await store.set(tag("c"), b"3", LONG)
    assert await store.delete() == 0
    assert await store.delete(tag("a"), tag("b"), tag("missing")) == 2
    assert await store.get(tag("a")) is None
    assert await store.get(tag("b")) is None
    assert await store.get(tag("c")) == b"3"
    assert await store.delete(tag("a")) == 0


async def test_delete_keys_of_different_slots(store: Store) -> None:
    # A session's keys and other keys in one call: on a cluster these live on different nodes.
    ids = [Ticket.new().session_id for _ in range(6)]
    keys = [session_key(i) for i in ids] + [lock_key(i) for i in ids]
    for key in keys:
        await store.set(key, b"x", LONG)
    assert await store.delete(*keys) == len(keys)
    for key in keys:
        assert await store.get(key) is None


async def test_delete_if_equals_only_for_the_holder(store: Store, tag: Callable[[str], str]) -> None:
    key = tag("lock")
    await store.set(key, b"holder", LONG)
    assert await store.delete_if_equals(key, b"someone-else") is False
    assert await store.get(key) == b"holder"
    assert await store.delete_if_equals(key, b"holder") is True
    assert await store.get(key) is None
    assert await store.delete_if_equals(key, b"holder") is False


async def test_expire_if_equals_only_for_the_holder(store: Store, tag: Callable[[str], str]) -> None:
    mine, theirs, probe = tag("mine"), tag("theirs"), tag("probe")
    await store.set(mine, b"holder", SHORT)
    await store.set(theirs, b"holder", SHORT)
    assert await store.expire_if_equals(mine, b"holder", LONG) is True
    assert await store.expire_if_equals(theirs, b"someone-else", LONG) is False
    await store.set(probe, b"p", SHORT)  # set last: once it is gone, any unrenewed lease is too

    await gone(store, probe, "the probe to expire")
    assert await store.get(theirs) is None, "a stranger renewed the lease"
    assert await store.get(mine) == b"holder", "the holder's renewal did not take"

    assert await store.expire_if_equals(tag("missing"), b"holder", LONG) is False
    assert await store.get(tag("missing")) is None


async def test_expire_if_equals_can_shorten(store: Store, tag: Callable[[str], str]) -> None:
    key = tag("lease")
    await store.set(key, b"holder", LONG)
    assert await store.expire_if_equals(key, b"holder", SHORT) is True
    await gone(store, key, "the reset lease to expire")


async def test_index_add_and_pop(store: Store, tag: Callable[[str], str]) -> None:
    key = tag("idx")
    await store.index_add(key, "session-a", LONG)
    await store.index_add(key, "session-b", LONG)
    await store.index_add(key, "session-a", LONG)
    popped = await store.index_pop(key)
    assert popped == frozenset({"session-a", "session-b"})
    assert isinstance(popped, frozenset)
    assert await store.index_pop(key) == frozenset()
    assert await store.index_pop(tag("never")) == frozenset()

    await store.index_add(key, "session-c", LONG)
    assert await store.index_pop(key) == frozenset({"session-c"})


async def test_index_pop_under_concurrency(stores: list[Store], tag: Callable[[str], str]) -> None:
    key = tag("idx")
    members = {f"s{i}" for i in range(20)}
    for m in members:
        await stores[0].index_add(key, m, LONG)
    results = await asyncio.gather(*(stores[i % REPLICAS].index_pop(key) for i in range(CALLERS)))
    non_empty = [r for r in results if r]
    assert non_empty == [frozenset(members)], "members lost or popped twice"


async def test_incr_with_ttl_counts_exactly_under_concurrency(stores: list[Store], tag: Callable[[str], str]) -> None:
    key = tag("failures")
    results = await asyncio.gather(*(stores[i % REPLICAS].incr_with_ttl(key, LONG) for i in range(CALLERS)))
    assert sorted(results) == list(range(1, CALLERS + 1)), "an increment was lost or counted twice"
    assert await stores[1].get(key) == str(CALLERS).encode()  # readable with get, as a decimal


async def test_incr_with_ttl_is_a_fixed_window(store: Store, tag: Callable[[str], str]) -> None:
    window, probe = tag("window"), tag("probe")
    assert await store.incr_with_ttl(window, SHORT) == 1
    assert await store.incr_with_ttl(window, LONG) == 2  # must not push the first expiry out
    await store.set(probe, b"p", SHORT)  # set last: once it is gone, so is the window
    await gone(store, probe, "the probe to expire")
    await gone(store, window, "the window to expire")
    assert await store.incr_with_ttl(window, LONG) == 1, "a new window starts at one"


async def test_index_ttl_only_grows(store: Store, tag: Callable[[str], str]) -> None:
    grows, kept, short, probe = tag("grows"), tag("kept"), tag("short"), tag("probe")
    await store.index_add(grows, "a", SHORT)
    await store.index_add(grows, "b", LONG)  # pushes the expiry out
    await store.index_add(kept, "a", LONG)
    await store.index_add(kept, "b", SHORT)  # must not pull it in
    await store.index_add(short, "a", SHORT)
    await store.set(probe, b"p", SHORT)  # set last: once it is gone, so is anything shorter

    await gone(store, probe, "the probe to expire")
    assert await store.index_pop(short) == frozenset(), "an index outlived its TTL"
    assert await store.index_pop(grows) == frozenset({"a", "b"})
    assert await store.index_pop(kept) == frozenset({"a", "b"})


async def test_getex_reads_and_resets_the_expiry(store: Store, tag: Callable[[str], str]) -> None:
    kept, lapsed, probe = tag("kept"), tag("lapsed"), tag("probe")
    assert await store.getex(tag("missing"), LONG) is None
    assert await store.get(tag("missing")) is None, "getex created a key"
    await store.set(kept, b"\x00session\xff", SHORT)
    await store.set(lapsed, b"idle", LONG)
    assert await store.getex(kept, LONG) == b"\x00session\xff"  # pushed out
    assert await store.getex(lapsed, SHORT) == b"idle"  # pulled in: the new expiry replaces the old
    await store.set(probe, b"p", SHORT)  # set last: once it is gone, so is anything shorter

    await gone(store, probe, "the probe to expire")
    assert await store.get(lapsed) is None, "getex did not replace a longer expiry"
    assert await store.get(kept) == b"\x00session\xff", "getex did not extend the key"


async def test_getex_keeps_an_idle_deadline_moving(store: Store, tag: Callable[[str], str]) -> None:
    """A key read more often than its TTL lives on; left alone, it ends (the idle timeout)."""
    key = tag("session")
    await store.set(key, b"s", SHORT)
    deadline = time.monotonic() + 3 * SHORT
    while time.monotonic() < deadline:
        assert await store.getex(key, SHORT) == b"s", "a key read within its TTL expired"
        await asyncio.sleep(SHORT / 4)
    await gone(store, key, "the key left unread to expire")


async def test_ttl(store: Store, tag: Callable[[str], str]) -> None:
    assert await store.ttl(tag("missing")) is None
    await store.set(tag("k"), b"v", LONG)
    left = await store.ttl(tag("k"))
    assert left is not None and LONG - 1 < left <= LONG
    await store.index_add(tag("idx"), "m", SHORT)
    left = await store.ttl(tag("idx"))
    assert left is not None and 0 < left <= SHORT
    await store.set(tag("short"), b"v", SHORT)
    await gone(store, tag("short"), "the key to expire")
    assert await store.ttl(tag("short")) is None


async def test_scan_finds_matching_keys_in_every_slot(store: Store) -> None:
    """Keys of many sessions (on a cluster: on every node), and nothing else."""
    run = uuid.uuid4().hex[:8]
    ids = [f"{run}-{i}" for i in range(40)]
    for sid in ids:
        await store.set(f"scan:{{{sid}}}:m", b"meta", LONG)
        await store.set(f"scan:{{{sid}}}:s", b"session", LONG)
    await store.set(f"scan:{{{run}-short}}:m", b"meta", SHORT)
    await store.set(f"scan:{{{run}-x}}:other", b"x", LONG)
    expected = {f"scan:{{{sid}}}:m" for sid in ids}
    assert await store.scan(f"scan:{{{run}-*}}:m") == frozenset(expected | {f"scan:{{{run}-short}}:m"})
    both = await store.scan(f"scan:{{{run}-*}}:[ms]")
    assert both == frozenset(expected | {f"scan:{{{sid}}}:s" for sid in ids} | {f"scan:{{{run}-short}}:m"})
    assert await store.scan(f"scan:{{{run}-nothing*}}:m") == frozenset()
    await gone(store, f"scan:{{{run}-short}}:m", "the short key to expire")
    assert f"scan:{{{run}-short}}:m" not in await store.scan(f"scan:{{{run}-*}}:m"), "an expired key was found"
    await store.delete(*expected)
    assert await store.scan(f"scan:{{{run}-*}}:m") == frozenset()


async def test_index_members_and_remove(stores: list[Store], tag: Callable[[str], str]) -> None:
    key = tag("idx")
    assert await stores[0].index_members(key) == frozenset()
    for member in ("a", "b", "c"):
        await stores[0].index_add(key, member, LONG)
    members = await stores[1].index_members(key)
    assert members == frozenset({"a", "b", "c"}) and isinstance(members, frozenset)
    assert await stores[2].index_members(key) == members, "reading the index changed it"
    await stores[1].index_remove(key, "a", "missing")
    assert await stores[0].index_members(key) == frozenset({"b", "c"})
    await stores[1].index_remove(key)  # nothing to remove
    await stores[2].index_remove(tag("never"), "a")
    assert await stores[0].index_members(tag("never")) == frozenset()
    await stores[2].index_remove(key, "b", "c")
    assert await stores[0].index_members(key) == frozenset()
    assert await stores[0].ttl(key) is None, "an emptied index is gone"


async def test_publish_reaches_every_listener(stores: list[Store], tag: Callable[[str], str]) -> None:
    channel, other = tag("chan"), tag("other-chan")
    async with (
        listening(stores[0], channel) as (first, first_task),
        listening(stores[1], channel) as (second, _),
        listening(stores[2], other) as (elsewhere, _),
    ):
        for feed in (first, second, elsewhere):
            await feed.until(lambda f: f.live, "the listener to subscribe")
        sent = ["sid-1", "sid-2", "sïd-3", "sid-4"]
        for message in sent[:3]:
            await stores[3].publish(channel, message)
        await stores[0].publish(channel, sent[3])  # the publisher's own listener hears it too
        for feed in (first, second):
            await feed.until(lambda f: len(f.messages) >= len(sent), "every message")
            assert feed.messages == sent
        assert elsewhere.messages == []
        assert first.live_changes == [True]

        first_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(first_task, timeout=5)
        assert first.live_changes == [True, False], "cancelling must report the feed down"
        await stores[3].publish(channel, "after")
        await second.until(lambda f: f.messages[-1:] == ["after"], "the remaining listener's message")
        assert first.messages == sent


# --------------------------------------------------------------------------------------------
# Cluster: a session's keys share one hash slot


def test_session_keys_share_a_cluster_slot(redis_cluster: Topology) -> None:
    port = redis_cluster.ports[0]
    slots = set()
    for _ in range(20):
        sid = Ticket.new().session_id
        s_slot = redis_cli(port, "CLUSTER", "KEYSLOT", session_key(sid)).strip()
        l_slot = redis_cli(port, "CLUSTER", "KEYSLOT", lock_key(sid)).strip()
        m_slot = redis_cli(port, "CLUSTER", "KEYSLOT", meta_key(sid)).strip()
        assert s_slot.isdigit(), s_slot
        assert s_slot == l_slot == m_slot, (sid, s_slot, l_slot, m_slot)
        slots.add(s_slot)
    # The tag is the session id, not the shared "ag:" prefix: sessions spread over the cluster.
    assert len(slots) > 1


async def test_session_keys_live_on_one_cluster_node(redis_cluster: Topology) -> None:
    store = RedisStore.from_url(redis_cluster.url, timeout=CONTRACT_TIMEOUT)
    try:
        owners = set()
        for _ in range(12):
            sid = Ticket.new().session_id
            await store.set(session_key(sid), b"session", LONG)
            await store.set(lock_key(sid), b"lock", LONG)
            # A multi-key command fails with CROSSSLOT (or MOVED) unless both sit on that node.
            holders = [
                p for p in redis_cluster.ports if redis_cli(p, "EXISTS", session_key(sid), lock_key(sid)) == "2\n"
            ]
            assert len(holders) == 1, (sid, holders)
            owners.add(holders[0])
        assert len(owners) > 1, "every session landed on one node: the cluster is not being used"
    finally:
        await store.close()


# --------------------------------------------------------------------------------------------
# Sentinel: the URL names sentinels only; the store finds the master, in the URL's database


def master_port(sentinel_port: int) -> int:
    host, port = redis_cli(sentinel_port, "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER).split()
    assert host == "127.0.0.1"
    return int(port)


async def test_sentinel_url_database_and_master(redis_sentinel: Topology, tag: Callable[[str], str]) -> None:
    url = redis_sentinel.url.removesuffix("/0") + "/3"
    store = RedisStore.from_url(url, timeout=CONTRACT_TIMEOUT)
    try:
        await store.set(tag("k"), b"in-db-3", LONG)
        master = master_port(redis_sentinel.sentinel_ports[0])
        assert redis_cli(master, "-n", "3", "GET", tag("k")) == "in-db-3\n"
        assert redis_cli(master, "-n", "0", "EXISTS", tag("k")) == "0\n"
        replica = next(p for p in redis_sentinel.ports if p != master)
        await eventually(
            lambda: asyncio.to_thread(lambda: redis_cli(replica, "-n", "3", "GET", tag("k")) == "in-db-3\n"),
            what="the write to reach the replica",
        )
    finally:
        await store.close()


async def test_sentinel_failover_is_followed(tmp_path: Path, tag: Callable[[str], str]) -> None:
    """A topology of its own: the master dies, Sentinel promotes the replica, the store follows."""
    topo = start_sentinel(tmp_path, down_after_ms=500, failover_timeout_ms=4000, quorum=True)
    store = RedisStore.from_url(topo.url, timeout=FAIL_TIMEOUT)
    try:
        old = master_port(topo.sentinel_ports[0])
        await store.set(tag("k"), b"before", LONG)
        replica = next(p for p in topo.ports if p != old)
        await eventually(
            lambda: asyncio.to_thread(lambda: redis_cli(replica, "GET", tag("k")) == "before\n"),
            what="the write to reach the replica",
        )

        topo.procs[topo.ports.index(old)].kill(signal.SIGKILL)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.get(tag("k")), timeout=FAIL_TIMEOUT + 5)

        # The failover is Sentinel's, and its time is Sentinel's: an election that splits the votes is
        # retried only after twice the failover timeout, and each sentinel learns the new master from
        # the others' hellos a little later. So wait for every sentinel to name the replica, bounded
        # generously; what is ours, following the report, then gets a bound of a few store timeouts.
        await sentinels_agree(topo, replica)

        async def follows() -> bool:
            try:
                return await store.get(tag("k")) == b"before"
            except StoreUnavailable:
                return False

        await eventually(follows, timeout=5, what="the store to read from the promoted replica")
        await store.set(tag("k"), b"after", LONG)
        assert redis_cli(replica, "GET", tag("k")) == "after\n"
    finally:
        await store.close()
        topo.stop()


async def sentinels_agree(topo: Topology, master: int, *, timeout: float = 60) -> None:
    """Wait until every sentinel names ``master``; on a timeout, fail with what each one said and logged."""
    ask = ("SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
    said: list[str] = []

    async def agree() -> bool:
        said[:] = await asyncio.to_thread(lambda: [redis_cli(port, *ask).strip() for port in topo.sentinel_ports])
        return said == [f"127.0.0.1\n{master}"] * len(topo.sentinel_ports)

    def report() -> str:
        logs = "\n".join(f"--- {proc.name}\n{proc.log()[-1500:]}" for proc in topo.procs if "sentinel" in proc.name)
        return f"every sentinel to name 127.0.0.1:{master}; they name {said}\n{logs}"

    await eventually(agree, timeout=timeout, what=report)


# --------------------------------------------------------------------------------------------
# Failure: Redis gone, Redis frozen, a peer that never answers


def operations(tag: Callable[[str], str]) -> dict[str, Callable[[Store], Awaitable[Any]]]:
    key = tag("k")
    return {
        "ping": lambda s: s.ping(),
        "get": lambda s: s.get(key),
        "set": lambda s: s.set(key, b"v", LONG),
        "set_nx": lambda s: s.set_nx(key, b"v", LONG),
        "getdel": lambda s: s.getdel(key),
        "delete": lambda s: s.delete(key, tag("other")),
        "delete_if_equals": lambda s: s.delete_if_equals(key, b"v"),
        "expire_if_equals": lambda s: s.expire_if_equals(key, b"v", LONG),
        "index_add": lambda s: s.index_add(tag("idx"), "m", LONG),
        "incr_with_ttl": lambda s: s.incr_with_ttl(tag("n"), LONG),
        "index_pop": lambda s: s.index_pop(tag("idx")),
        "getex": lambda s: s.getex(key, LONG),
        "ttl": lambda s: s.ttl(key),
        "scan": lambda s: s.scan(tag("*")),
        "index_members": lambda s: s.index_members(tag("idx")),
        "index_remove": lambda s: s.index_remove(tag("idx"), "m"),
    }


async def assert_every_call_unavailable(store: Store, tag: Callable[[str], str]) -> None:
    """Every operation, all at once: each raises StoreUnavailable (``from`` the cause), at most SLACK
    after a ``timer`` of the store's timeout (FAIL_TIMEOUT) started beside them fires."""

    async def timed(op: Callable[[Store], Awaitable[Any]]) -> tuple[BaseException | None, float]:
        start = time.monotonic()
        try:
            # The outer bound only turns a hang into a failure; the store must answer long before.
            await asyncio.wait_for(op(store), timeout=FAIL_TIMEOUT + SLACK + 5)
        except Exception as exc:
            return exc, time.monotonic() - start
        return None, time.monotonic() - start

    ops = operations(tag)
    for _ in range(2):  # twice: calls after a timed-out call (on a reused or new connection) too
        fired, *results = await asyncio.gather(timer(FAIL_TIMEOUT), *(timed(op) for op in ops.values()))
        for name, (exc, elapsed) in zip(ops, results, strict=True):
            assert isinstance(exc, StoreUnavailable), f"{name}: {exc!r}"
            assert exc.__cause__ is not None, f"{name}: raised without `from exc`"
            assert elapsed < fired + SLACK, f"{name} took {elapsed:.2f}s to fail (the timer fired at {fired:.2f}s)"


async def wait_until_answering(store: Store, *, timeout: float = 10.0) -> None:
    async def answers() -> bool:
        try:
            await store.ping()
        except StoreUnavailable:
            return False
        return True

    await eventually(answers, timeout=timeout, what="the store to answer again")


@asynccontextmanager
async def loop_lag() -> AsyncIterator[list[float]]:
    """The worst lateness of a 20 ms tick on this event loop while the block runs (``[seconds]``):
    how long the loop stalled (a starved CI machine), whoever stalled it."""
    worst = [0.0]

    async def tick() -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.02)
            worst[0] = max(worst[0], time.monotonic() - start - 0.02)

    task = asyncio.create_task(tick())
    try:
        yield worst
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def assert_every_call_works(store: Store, tag: Callable[[str], str]) -> None:
    """Not just one lucky call: every operation works, and replies still match their requests.

    With the failure tests' 0.5 s timeout, a call may give up only because this loop stalled for as
    long (CI on two cores): such a round, and only such a round, runs again with new keys (at most
    three rounds). A wrong reply fails at once, and a store that times out on a loop that did not
    stall fails too."""
    for round_ in range(3):
        async with loop_lag() as lag:
            try:
                await _every_call_works(store, lambda name: tag(f"{round_}-{name}"))
                return
            except StoreUnavailable as exc:
                if not isinstance(exc.__cause__, TimeoutError) or lag[0] < FAIL_TIMEOUT / 2 or round_ == 2:
                    raise


async def _every_call_works(store: Store, tag: Callable[[str], str]) -> None:
    keys = [tag(f"after-{i}") for i in range(CALLERS)]
    await asyncio.gather(*(store.set(k, k.encode(), LONG) for k in keys))
    assert await asyncio.gather(*(store.get(k) for k in keys)) == [k.encode() for k in keys]
    assert await store.set_nx(tag("nx"), b"mine", LONG) is True
    assert await store.getdel(tag("nx")) == b"mine"
    for op in operations(tag).values():
        await asyncio.wait_for(op(store), timeout=5)


@pytest.fixture
def lone_redis(tmp_path: Path) -> Iterator[Redis]:
    server = start_redis(tmp_path, "lone-redis")
    yield server
    if server.proc.popen is not None and server.proc.popen.poll() is None:
        os.killpg(server.proc.popen.pid, signal.SIGCONT)  # in case a test left it stopped
    server.proc.stop()


async def test_redis_killed_then_restarted(lone_redis: Redis, tag: Callable[[str], str]) -> None:
    store = RedisStore.from_url(lone_redis.url, timeout=FAIL_TIMEOUT)
    try:
        await store.set(tag("k"), b"before", LONG)
        assert await store.get(tag("k")) == b"before"

        lone_redis.proc.kill(signal.SIGKILL)
        assert lone_redis.proc.popen is not None and lone_redis.proc.popen.returncode == -signal.SIGKILL
        await assert_every_call_unavailable(store, tag)

        lone_redis.restart()  # same port; the data is gone (no persistence)
        await wait_until_answering(store)
        assert await store.get(tag("k")) is None, "not the restarted server"
        await assert_every_call_works(store, tag)
    finally:
        await store.close()


async def test_redis_frozen_then_thawed(lone_redis: Redis, tag: Callable[[str], str]) -> None:
    """SIGSTOP: the kernel still accepts connections, nothing answers. Then SIGCONT."""
    store = RedisStore.from_url(lone_redis.url, timeout=FAIL_TIMEOUT)
    assert lone_redis.proc.popen is not None
    pid = lone_redis.proc.popen.pid
    try:
        await store.set(tag("k"), b"before", LONG)
        with frozen(pid):
            await assert_every_call_unavailable(store, tag)
        # The requests that timed out reach Redis now; their late replies must not answer new calls.
        await wait_until_answering(store)
        await assert_every_call_works(store, tag)
    finally:
        await store.close()


async def test_peer_that_never_answers(tag: Callable[[str], str]) -> None:
    """A TCP server that accepts and reads but never replies: every call gives up in time."""
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=FAIL_TIMEOUT)
    try:
        async with listening(store, tag("chan")) as (feed, task):
            await assert_every_call_unavailable(store, tag)
            assert connections, "the store never connected to the silent peer"
            assert feed.live_changes == [], "a subscription nobody confirmed was reported live"
            assert not task.done(), "listen gave up instead of retrying"
    finally:
        await store.close()
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


def ping_calls(port: int) -> int:
    """How many PINGs the server at ``port`` has answered."""
    stats = info_field(redis_cli(port, "INFO", "commandstats"), "cmdstat_ping")  # calls=N,usec=...
    return int(stats.split(",")[0].removeprefix("calls=")) if stats else 0


async def two_more_pings(port: int) -> None:
    """Wait (bounded) until the server at ``port`` has answered two more PINGs: two heartbeats."""
    base = ping_calls(port)
    await eventually(
        lambda: asyncio.to_thread(lambda: ping_calls(port) >= base + 2),
        timeout=2 * HEARTBEAT + 5,
        what="two heartbeats",
    )


# "?protocol=3": redis-py says HELLO 3, and the feed reads RESP3 pushes and PONGs.
@pytest.mark.parametrize("query", ["", "?protocol=3"], ids=["RESP2", "RESP3"])
async def test_listen_reports_a_killed_redis_and_resubscribes(
    lone_redis: Redis, tag: Callable[[str], str], query: str
) -> None:
    listener = RedisStore.from_url(lone_redis.url + query, timeout=FAIL_TIMEOUT)
    publisher = RedisStore.from_url(lone_redis.url + query, timeout=FAIL_TIMEOUT)
    channel = tag("chan")
    try:
        async with listening(listener, channel) as (feed, task):
            await feed.until(lambda f: f.live, "the first subscription")
            await publisher.publish(channel, "before")
            await feed.until(lambda f: f.messages == ["before"], "the first message")

            # A healthy server answers the heartbeat: two PINGs seen by Redis, and the feed never dropped
            # (an unanswered first PING would have dropped it before the second was sent).
            await two_more_pings(lone_redis.port)
            assert feed.live_changes == [True]

            lone_redis.proc.kill(signal.SIGKILL)
            down = feed.until(lambda f: not f.live, "the feed to go down", timeout=HEARTBEAT + FAIL_TIMEOUT + 5)
            took, fired = await beside_a_timer(down, HEARTBEAT + FAIL_TIMEOUT)
            assert took < fired + SLACK, f"the feed went down after {took:.2f}s (the timer fired at {fired:.2f}s)"

            lone_redis.restart()
            await feed.until(lambda f: f.live, "the feed to come back by itself")
            await wait_until_answering(publisher)
            await publisher.publish(channel, "after")
            await feed.until(lambda f: f.messages[-1:] == ["after"], "a message after the restart")
            assert feed.live_changes[:3] == [True, False, True]
            assert not task.done()
    finally:
        await listener.close()
        await publisher.close()


async def test_listen_reports_a_frozen_redis(lone_redis: Redis, tag: Callable[[str], str]) -> None:
    """A silent server (SIGSTOP): only the heartbeat can tell, within HEARTBEAT + timeout."""
    listener = RedisStore.from_url(lone_redis.url, timeout=FAIL_TIMEOUT)
    publisher = RedisStore.from_url(lone_redis.url, timeout=FAIL_TIMEOUT)
    channel = tag("chan")
    assert lone_redis.proc.popen is not None
    pid = lone_redis.proc.popen.pid
    try:
        async with listening(listener, channel) as (feed, _):
            await feed.until(lambda f: f.live, "the first subscription")
            with frozen(pid):
                down = feed.until(lambda f: not f.live, "the feed to go down", timeout=HEARTBEAT + FAIL_TIMEOUT + 5)
                took, fired = await beside_a_timer(down, HEARTBEAT + FAIL_TIMEOUT)
                assert took < fired + SLACK, f"the feed went down after {took:.2f}s (the timer fired at {fired:.2f}s)"
            await feed.until(lambda f: f.live, "the feed to come back by itself")
            await wait_until_answering(publisher)
            await publisher.publish(channel, "after")
            await feed.until(lambda f: f.messages == ["after"], "a message after the thaw")
    finally:
        await listener.close()
        await publisher.close()


async def assert_feed_and_refusal(url: str, refused_urls: list[str], tag: Callable[[str], str]) -> None:
    """``url``'s feed goes live and hears a message; a feed on any of ``refused_urls`` never goes live."""
    listener = RedisStore.from_url(url, timeout=CONTRACT_TIMEOUT)
    publisher = RedisStore.from_url(url, timeout=CONTRACT_TIMEOUT)
    denied = [RedisStore.from_url(u, timeout=FAIL_TIMEOUT) for u in refused_urls]
    channel = tag("chan")
    try:
        async with contextlib.AsyncExitStack() as stack:
            feed, _ = await stack.enter_async_context(listening(listener, channel))
            refused = [(await stack.enter_async_context(listening(d, channel)))[0] for d in denied]
            await feed.until(lambda f: f.live, "the subscription")
            await publisher.publish(channel, "hello")
            await feed.until(lambda f: f.messages == ["hello"], "the message")
            await asyncio.sleep(2 * FAIL_TIMEOUT)  # time for a wrongly accepted feed to go live
            for u, r in zip(refused_urls, refused, strict=True):
                assert r.live_changes == [], f"{u}: a refused connection made a live feed"
    finally:
        for store in (listener, publisher, *denied):
            await store.close()


# "?protocol=3": the subscription logs in with HELLO 3 AUTH, else AUTH; then SELECT when a db is given.
@pytest.mark.parametrize("query", ["", "?protocol=3"], ids=["RESP2", "RESP3"])
async def test_listen_and_publish_on_a_password_protected_redis(
    tmp_path: Path, tag: Callable[[str], str], query: str
) -> None:
    """The subscription's own connection logs in as the URL says: a password, an ACL user, a database."""
    acl_user = ["--user", "feed", "on", ">feed-pw", "~*", "&*", "+@all"]
    server = start_redis(tmp_path, "redis-auth", "--requirepass", "s3cret-pw", *acl_user)
    try:
        for url in (
            f"redis://:s3cret-pw@127.0.0.1:{server.port}/3{query}",
            f"redis://feed:feed-pw@127.0.0.1:{server.port}/0{query}",
        ):
            await assert_feed_and_refusal(url, [url.replace("pw@", "wrong@")], tag)
    finally:
        server.proc.stop()


# The session-control operations on RESP3 (sets and integers come back in other shapes) and as an ACL
# user limited to authgate's keys.
@pytest.mark.parametrize("query", ["", "?protocol=3"], ids=["RESP2", "RESP3"])
async def test_session_control_ops_as_an_acl_user(tmp_path: Path, query: str) -> None:
    acl_user = ["--user", "gate", "on", ">gate-pw", "~ag:*", "&*", "+@all"]
    server = start_redis(tmp_path, "redis-acl", *acl_user)
    store = RedisStore.from_url(f"redis://gate:gate-pw@127.0.0.1:{server.port}/0{query}", timeout=CONTRACT_TIMEOUT)
    try:
        sid = Ticket.new().session_id
        await store.set(session_key(sid), b"s", LONG)
        await store.set(meta_key(sid), b"m", LONG)
        assert await store.getex(session_key(sid), SHORT) == b"s"
        left = await store.ttl(session_key(sid))
        assert left is not None and 0 < left <= SHORT
        assert await store.scan("ag:{*}:[ms]") == frozenset({session_key(sid), meta_key(sid)})
        await store.index_add("ag:idx:user:x", sid, LONG)
        assert await store.index_members("ag:idx:user:x") == frozenset({sid})
        await store.index_remove("ag:idx:user:x", sid)
        assert await store.index_members("ag:idx:user:x") == frozenset()
        with pytest.raises(StoreUnavailable):
            await store.getex("other:key", LONG)  # outside the user's keys: refused, as any other call
    finally:
        await store.close()
        server.proc.stop()


def tls_files(d: Path) -> dict[str, Path]:
    """A CA, a certificate it signed for 127.0.0.1 (the name redis-py checks), and an unrelated CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, ca: bool
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    def pem(c: x509.Certificate) -> bytes:
        return c.public_bytes(serialization.Encoding.PEM)

    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    files = {name: d / f"{name}.pem" for name in ("ca", "other-ca", "server", "server-key")}
    files["ca"].write_bytes(pem(cert("authgate test CA", ca_key, "authgate test CA", ca_key, True)))
    files["other-ca"].write_bytes(pem(cert("someone else", other_key, "someone else", other_key, True)))
    files["server"].write_bytes(pem(cert("redis", server_key, "authgate test CA", ca_key, False)))
    files["server-key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


async def test_listen_and_publish_over_tls(tmp_path: Path, tag: Callable[[str], str]) -> None:
    """``rediss://``: the subscription's own TLS honours the URL's ssl_* options as redis-py does."""
    files = tls_files(tmp_path)
    tls_port = free_port()
    server = start_redis(
        tmp_path,
        "redis-tls",
        *("--tls-port", str(tls_port), "--tls-auth-clients", "no", "--requirepass", "s3cret-pw"),
        *("--tls-cert-file", str(files["server"]), "--tls-key-file", str(files["server-key"])),
        *("--tls-ca-cert-file", str(files["ca"])),
    )
    server.proc.wait_port(tls_port)
    base = f"rediss://:s3cret-pw@127.0.0.1:{tls_port}/0"
    try:
        await assert_feed_and_refusal(
            f"{base}?ssl_ca_certs={files['ca']}",
            [
                f"{base}?ssl_ca_certs={files['other-ca']}",  # a certificate nobody we trust signed
                f"{base}",  # the system's CAs only
                f"rediss://:s3cret-pw@localhost:{tls_port}/0?ssl_ca_certs={files['ca']}",  # not its name
                f"redis://:s3cret-pw@127.0.0.1:{tls_port}/0",  # plain text to a TLS port
            ],
            tag,
        )
        await assert_feed_and_refusal(f"{base}?ssl_cert_reqs=none&protocol=3", [], tag)
        await assert_feed_and_refusal(f"{base}?ssl_ca_certs={files['ca']}&ssl_check_hostname=false", [], tag)
    finally:
        server.proc.stop()


async def test_listen_and_publish_over_a_unix_socket(tag: Callable[[str], str]) -> None:
    short = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))  # a socket's path is limited to ~100 bytes
    sock = short / "redis.sock"
    server = start_redis(short, "redis-unix", "--unixsocket", str(sock), "--unixsocketperm", "700")
    try:
        await assert_feed_and_refusal(f"unix://{sock}?db=2", [f"unix://{short}/nothing-here.sock"], tag)
    finally:
        server.proc.stop()
        shutil.rmtree(short, ignore_errors=True)
