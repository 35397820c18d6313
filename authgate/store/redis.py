"""The Redis store (redis-py asyncio): standalone, Sentinel and Cluster.

With endpoints.py and feed.py, the only code that imports redis. Every call is bounded by
``timeout`` so a hung Redis cannot hang the gateway, and every redis error becomes
``StoreUnavailable``; the client reconnects by itself, so service resumes when Redis returns.

``listen`` (authgate/store/feed.py) holds one subscription on a connection of its own; on a Cluster it
subscribes on one master: classic PUBLISH reaches every node. Session reads (GET, GETEX) go through
a pipelined connection of our own (authgate/store/pipeline.py), except on a Cluster.

Those connections are not redis-py's: they open their sockets themselves, to an address found
through redis-py's public APIs (the URL, ``Sentinel.discover_master``, ``RedisCluster.get_primaries``),
with the TLS and login the URL asks for (``redis.asyncio.connection.parse_url``), so no redis-py
internals are relied on and any redis-py version that keeps those APIs will do.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from authgate.errors import StoreUnavailable
from authgate.observability import metrics
from authgate.store.endpoints import Target, sentinel_of
from authgate.store.feed import listen as listen_to
from authgate.store.pipeline import Reads
from authgate.store.subscription import Endpoint

T = TypeVar("T")
log = logging.getLogger("authgate.store")

_DELETE_IF_EQUALS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXPIRE_IF_EQUALS = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_INDEX_ADD = (
    "redis.call('sadd', KEYS[1], ARGV[1]) "
    "if redis.call('pttl', KEYS[1]) < tonumber(ARGV[2]) then redis.call('pexpire', KEYS[1], ARGV[2]) end return 1"
)
# The expiry is set by the increment that created the counter only: a fixed window.
_INCR_WITH_TTL = (
    "local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end return n"
)
# A script, not MULTI/EXEC: atomic on every topology, one key so Cluster routes it like any other.
_INDEX_POP = "local m = redis.call('smembers', KEYS[1]) redis.call('del', KEYS[1]) return m"


# Each operation's timer, resolved once.
_OP_GET = metrics.store_ops["get"]
_OP_SET = metrics.store_ops["set"]
_OP_SET_NX = metrics.store_ops["set_nx"]
_OP_SET_XX = metrics.store_ops["set_xx"]
_OP_GETDEL = metrics.store_ops["getdel"]
_OP_GETEX = metrics.store_ops["getex"]
_OP_TTL = metrics.store_ops["ttl"]
_OP_SCAN = metrics.store_ops["scan"]
_OP_INDEX_MEMBERS = metrics.store_ops["index_members"]
_OP_INDEX_REMOVE = metrics.store_ops["index_remove"]
_OP_DELETE = metrics.store_ops["delete"]
_OP_DELETE_IF_EQUALS = metrics.store_ops["delete_if_equals"]
_OP_EXPIRE_IF_EQUALS = metrics.store_ops["expire_if_equals"]
_OP_INCR_WITH_TTL = metrics.store_ops["incr_with_ttl"]
_OP_INDEX_ADD = metrics.store_ops["index_add"]
_OP_INDEX_POP = metrics.store_ops["index_pop"]
_OP_PUBLISH = metrics.store_ops["publish"]
_OP_PING = metrics.store_ops["ping"]

CLUSTER_CONCURRENCY = 64  # store calls in flight at once on a Cluster (redis-py allows 100 per node)

#: The store's own client: one server (found through Sentinel or not), or a Cluster.
Client: TypeAlias = redis.Redis | RedisCluster
#: Where the next subscription connects (asked again on every attempt: Sentinel or Cluster may have moved).
Subscriber = Callable[[], Awaitable[Endpoint]]


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisStore:
    shared = True

    def __init__(
        self, client: Client, *, timeout: float, subscriber: Subscriber, also_close: Sequence[redis.Redis] = ()
    ) -> None:
        self._r = client
        self._timeout = timeout
        self._subscriber = subscriber
        self._also_close = tuple(also_close)  # clients ``client`` relies on (Sentinel's own)
        # Session reads go through a pipeline of our own (authgate/store/pipeline.py), except on a
        # Cluster, whose keys live on many nodes: there redis-py routes them.
        self._reads = None if isinstance(client, RedisCluster) else Reads(subscriber, timeout)
        # redis-py's Cluster client fails a call outright (MaxConnectionsError) when a node's 100
        # connections are in use, where its other clients wait: a burst of cold checks must wait.
        self._cluster_calls = asyncio.Semaphore(CLUSTER_CONCURRENCY)
        self._delete_if_equals = client.register_script(_DELETE_IF_EQUALS)
        self._expire_if_equals = client.register_script(_EXPIRE_IF_EQUALS)
        self._index_add = client.register_script(_INDEX_ADD)
        self._incr_with_ttl = client.register_script(_INCR_WITH_TTL)
        self._index_pop = client.register_script(_INDEX_POP)

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> RedisStore:
        opts: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": 15,
            # After a Redis restart the pool still holds connections the server closed: retry once,
            # at once, on a fresh one (still within the per-call timeout) instead of failing a request.
            "retry": Retry(NoBackoff(), 1),
        }
        parts = urlsplit(url)
        if parts.scheme in ("redis+sentinel", "rediss+sentinel"):
            sentinel, name, target = sentinel_of(url, opts)
            login = target.login
            # Sentinel's methods and attributes are unannotated (Any): say what they are.
            master: redis.Redis = sentinel.master_for(
                name, db=login.db, username=login.username, password=login.password, ssl=target.tls
            )
            sentinels: list[redis.Redis] = sentinel.sentinels

            async def sentinel_subscriber() -> Endpoint:
                address: tuple[str, int] = await sentinel.discover_master(name)
                return target.endpoint(*address)

            return cls(master, timeout=timeout, subscriber=sentinel_subscriber, also_close=sentinels)
        if parts.scheme in ("redis+cluster", "rediss+cluster"):
            plain = url.replace("+cluster", "", 1)
            cluster = RedisCluster.from_url(plain, socket_timeout=timeout, socket_connect_timeout=timeout)
            return cls(cluster, timeout=timeout, subscriber=_cluster_subscriber(cluster, Target.from_url(plain)))

        client = redis.Redis.from_url(url, **opts)
        target = Target.from_url(url)

        async def subscriber() -> Endpoint:
            return target.endpoint()

        return cls(client, timeout=timeout, subscriber=subscriber)

    async def _call(self, aw: Awaitable[T], op: metrics.Timed) -> T:
        # The one place every store call passes: timed here (failures too) and failures counted.
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                if isinstance(self._r, RedisCluster):
                    async with self._cluster_calls:
                        # RedisCluster routes a command before it learns the slot map (redis-py 8.1):
                        # concurrent first calls then go to the wrong nodes and its recovery closes
                        # connections in use. Waiting for the (locked, idempotent) initialize first
                        # routes every call with a complete map, after a reconnect too.
                        await self._r.initialize()
                        return await aw
                return await aw
        except (RedisError, OSError, TimeoutError) as exc:
            op.errors.inc()
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc
        finally:
            op.seconds.observe(time.perf_counter() - start)
            if inspect.iscoroutine(aw):
                aw.close()  # never started (initialize failed): no "never awaited" warning

    async def get(self, key: str) -> bytes | None:
        if self._reads is None:
            return _bytes(await self._call(self._r.get(key), _OP_GET))
        return await self._read(_OP_GET, b"GET", key.encode())

    async def getex(self, key: str, ttl: float) -> bytes | None:
        # GETEX (Redis 6.2+): the read and the new expiry in one command, one round trip.
        if self._reads is None:
            return _bytes(await self._call(self._r.getex(key, px=_ms(ttl)), _OP_GETEX))
        return await self._read(_OP_GETEX, b"GETEX", key.encode(), b"PX", b"%d" % _ms(ttl))

    async def _read(self, op: metrics.Timed, *args: bytes) -> bytes | None:
        """A session read on the pipeline (authgate/store/pipeline.py), timed like any other call."""
        assert self._reads is not None
        start = time.perf_counter()
        try:
            reply = await self._reads.call(*args)
        except (OSError, TimeoutError, RedisError) as exc:  # PipelineLost is an OSError; RedisError: no master
            op.errors.inc()
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        finally:
            op.seconds.observe(time.perf_counter() - start)
        if reply is None or isinstance(reply, bytes):
            return reply
        op.errors.inc()
        raise StoreUnavailable(f"redis: {args[0].decode()} answered {type(reply).__name__}: {reply}")

    async def ttl(self, key: str) -> float | None:
        left = int(await self._call(self._r.pttl(key), _OP_TTL))
        return None if left == -2 else math.inf if left == -1 else left / 1000

    async def scan(self, match: str) -> frozenset[str]:
        # Cluster: scan_iter walks every primary. Each step is bounded by the timeout, not the walk.
        found: set[str] = set()
        keys: AsyncIterator[bytes] = self._r.scan_iter(match=match, count=1000)
        while True:
            try:
                key = await self._call(anext(keys), _OP_SCAN)
            except StopAsyncIteration:
                return frozenset(found)
            found.add(key.decode())

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(self._r.set(key, value, px=_ms(ttl)), _OP_SET)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._r.set(key, value, px=_ms(ttl), nx=True), _OP_SET_NX))

    async def set_xx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._r.set(key, value, px=_ms(ttl), xx=True), _OP_SET_XX))

    async def getdel(self, key: str) -> bytes | None:
        return _bytes(await self._call(self._r.getdel(key), _OP_GETDEL))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        # One DEL per key: in a cluster, keys of one call must share a slot.
        total = 0
        for key in keys:
            total += int(await self._call(self._r.delete(key), _OP_DELETE))
        return total

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return bool(await self._call(self._delete_if_equals(keys=[key], args=[value]), _OP_DELETE_IF_EQUALS))

    async def expire_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._expire_if_equals(keys=[key], args=[value, _ms(ttl)]), _OP_EXPIRE_IF_EQUALS))

    async def incr_with_ttl(self, key: str, ttl: float) -> int:
        return int(await self._call(self._incr_with_ttl(keys=[key], args=[_ms(ttl)]), _OP_INCR_WITH_TTL))

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        await self._call(self._index_add(keys=[key], args=[member, _ms(ttl)]), _OP_INDEX_ADD)

    async def index_pop(self, key: str) -> frozenset[str]:
        # One atomic step: a session indexed meanwhile is either returned or kept.
        members: list[bytes] = await self._call(self._index_pop(keys=[key]), _OP_INDEX_POP)
        return frozenset(m.decode() for m in members)

    async def index_members(self, key: str) -> frozenset[str]:
        members = await self._call(self._r.smembers(key), _OP_INDEX_MEMBERS)
        return frozenset(m.decode() if isinstance(m, bytes) else m for m in members)

    async def index_remove(self, key: str, *members: str) -> None:
        if members:
            await self._call(self._r.srem(key, *members), _OP_INDEX_REMOVE)

    async def publish(self, channel: str, message: str) -> None:
        await self._call(self._r.publish(channel, message), _OP_PUBLISH)

    async def listen(self, channel: str, on_message: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        await listen_to(self._subscriber, self._timeout, channel, on_message, on_live)

    async def ping(self) -> None:
        await self._call(self._r.ping(), _OP_PING)

    async def close(self) -> None:
        if self._reads is not None:
            self._reads.close()
        for client in (self._r, *self._also_close):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def _bytes(value: bytes | str | None) -> bytes | None:
    # The clients never decode (no decode_responses): a str cannot come back, which redis-py's
    # return types (bytes | str | None, whatever the client's options) cannot say.
    return cast(bytes | None, value)


def _cluster_subscriber(cluster: RedisCluster, target: Target) -> Subscriber:
    """A master of the cluster, a different one on each call."""
    turn = itertools.count()

    async def subscriber() -> Endpoint:
        await cluster.initialize()
        masters = cluster.get_primaries()
        if not masters:
            raise StoreUnavailable("redis: the cluster has no master")
        node = masters[next(turn) % len(masters)]
        return target.endpoint(node.host, int(node.port))

    return subscriber
