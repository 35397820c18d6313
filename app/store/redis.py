"""The Redis store (redis-py asyncio): standalone, Sentinel and Cluster.

With app/store/endpoints.py, the only code that imports redis. Every call is bounded by
``timeout`` so a hung Redis cannot hang the gateway, and every redis error becomes
``StoreUnavailable``; the client reconnects by itself, so service resumes when Redis returns.

``listen`` holds one subscription on a connection of its own (no silent retries, so a lost
connection shows at once), read in the event loop's I/O callback (``subscription.py``), and pings
it after ``HEARTBEAT`` quiet seconds, so a silent server is noticed within ``HEARTBEAT + timeout``.
On a Cluster it subscribes on one master: classic PUBLISH reaches every node.

That connection is not redis-py's: the subscription opens its socket itself, to an address found
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
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app import metrics
from app.errors import StoreUnavailable
from app.store.endpoints import Target, sentinel_of
from app.store.pipeline import Reads
from app.store.subscription import Endpoint, Subscription

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
_OP_GETDEL = metrics.store_ops["getdel"]
_OP_DELETE = metrics.store_ops["delete"]
_OP_DELETE_IF_EQUALS = metrics.store_ops["delete_if_equals"]
_OP_EXPIRE_IF_EQUALS = metrics.store_ops["expire_if_equals"]
_OP_INCR_WITH_TTL = metrics.store_ops["incr_with_ttl"]
_OP_INDEX_ADD = metrics.store_ops["index_add"]
_OP_INDEX_POP = metrics.store_ops["index_pop"]
_OP_PUBLISH = metrics.store_ops["publish"]
_OP_PING = metrics.store_ops["ping"]

HEARTBEAT = 1.0  # seconds between PINGs on a quiet subscription
CLUSTER_CONCURRENCY = 64  # store calls in flight at once on a Cluster (redis-py allows 100 per node)
HEARTBEAT_MESSAGE = b"authgate-heartbeat"
_RESUBSCRIBE_MAX_DELAY = 2.0

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
        # Session reads go through a pipeline of our own (app/store/pipeline.py), except on a
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
        start = time.perf_counter()
        try:
            reply = await self._reads.get(key)
        except (OSError, TimeoutError, RedisError) as exc:  # PipelineLost is an OSError; RedisError: no master
            _OP_GET.errors.inc()
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        finally:
            _OP_GET.seconds.observe(time.perf_counter() - start)
        if reply is None or isinstance(reply, bytes):
            return reply
        _OP_GET.errors.inc()
        raise StoreUnavailable(f"redis: GET answered {type(reply).__name__}: {reply}")

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(self._r.set(key, value, px=_ms(ttl)), _OP_SET)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._r.set(key, value, px=_ms(ttl), nx=True), _OP_SET_NX))

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

    async def publish(self, channel: str, message: str) -> None:
        await self._call(self._r.publish(channel, message), _OP_PUBLISH)

    async def listen(self, channel: str, on_message: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        failures = 0
        while True:
            live = _Liveness(on_live)
            subscription: Subscription | None = None
            try:
                async with asyncio.timeout(self._timeout):
                    endpoint = await self._subscriber()
                    subscription = await Subscription.open(endpoint, channel, on_message, live.lost)
                failures = 0
                live.report(True)
                await subscription.watch(HEARTBEAT, self._timeout, HEARTBEAT_MESSAGE)
            except (RedisError, OSError, TimeoutError, StoreUnavailable) as exc:  # SubscriptionLost: OSError
                failures += 1
                if failures == 1:  # once per outage: the retries below are quiet
                    log.warning("redis: invalidation feed: %s: %s; resubscribing", type(exc).__name__, exc)
            finally:
                live.report(False)
                if subscription is not None:
                    subscription.close()
            await asyncio.sleep(min(0.05 * 2**failures, _RESUBSCRIBE_MAX_DELAY))

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


class _Liveness:
    """Reports each change of a subscription's liveness once; ``lost`` is called from the I/O
    callback that sees the connection go, so the cache stops answering at that very moment."""

    def __init__(self, on_live: Callable[[bool], None]) -> None:
        self._on_live = on_live
        self._live = False

    def report(self, live: bool) -> None:
        if live != self._live:
            self._live = live
            self._on_live(live)

    def lost(self) -> None:
        self.report(False)
