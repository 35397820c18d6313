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
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.errors import StoreUnavailable
from app.store.endpoints import Target, sentinel_of
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
# A script, not MULTI/EXEC: atomic on every topology, one key so Cluster routes it like any other.
_INDEX_POP = "local m = redis.call('smembers', KEYS[1]) redis.call('del', KEYS[1]) return m"


HEARTBEAT = 1.0  # seconds between PINGs on a quiet subscription
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
        self._delete_if_equals = client.register_script(_DELETE_IF_EQUALS)
        self._expire_if_equals = client.register_script(_EXPIRE_IF_EQUALS)
        self._index_add = client.register_script(_INDEX_ADD)
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

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                if isinstance(self._r, RedisCluster):
                    # RedisCluster routes a command before it learns the slot map (redis-py 8.1):
                    # concurrent first calls then go to the wrong nodes and its recovery closes
                    # connections in use. Waiting for the (locked, idempotent) initialize first
                    # routes every call with a complete map, after a reconnect too.
                    await self._r.initialize()
                return await aw
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc
        finally:
            if inspect.iscoroutine(aw):
                aw.close()  # never started (initialize failed): no "never awaited" warning

    async def get(self, key: str) -> bytes | None:
        return _bytes(await self._call(self._r.get(key)))

    async def getex(self, key: str, ttl: float) -> bytes | None:
        # GETEX (Redis 6.2+): the read and the new expiry in one command, one round trip.
        return _bytes(await self._call(self._r.getex(key, px=_ms(ttl))))

    async def ttl(self, key: str) -> float | None:
        left = int(await self._call(self._r.pttl(key)))
        return None if left == -2 else math.inf if left == -1 else left / 1000

    async def scan(self, match: str) -> frozenset[str]:
        # Cluster: scan_iter walks every primary. Each step is bounded by the timeout, not the walk.
        found: set[str] = set()
        keys: AsyncIterator[bytes] = self._r.scan_iter(match=match, count=1000)
        while True:
            try:
                key = await self._call(anext(keys))
            except StopAsyncIteration:
                return frozenset(found)
            found.add(key.decode())

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(self._r.set(key, value, px=_ms(ttl)))

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._r.set(key, value, px=_ms(ttl), nx=True)))

    async def getdel(self, key: str) -> bytes | None:
        return _bytes(await self._call(self._r.getdel(key)))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        # One DEL per key: in a cluster, keys of one call must share a slot.
        total = 0
        for key in keys:
            total += int(await self._call(self._r.delete(key)))
        return total

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return bool(await self._call(self._delete_if_equals(keys=[key], args=[value])))

    async def expire_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._expire_if_equals(keys=[key], args=[value, _ms(ttl)])))

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        await self._call(self._index_add(keys=[key], args=[member, _ms(ttl)]))

    async def index_pop(self, key: str) -> frozenset[str]:
        # One atomic step: a session indexed meanwhile is either returned or kept.
        members: list[bytes] = await self._call(self._index_pop(keys=[key]))
        return frozenset(m.decode() for m in members)

    async def index_members(self, key: str) -> frozenset[str]:
        members = await self._call(self._r.smembers(key))
        return frozenset(m.decode() if isinstance(m, bytes) else m for m in members)

    async def index_remove(self, key: str, *members: str) -> None:
        if members:
            await self._call(self._r.srem(key, *members))

    async def publish(self, channel: str, message: str) -> None:
        await self._call(self._r.publish(channel, message))

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
        await self._call(self._r.ping())

    async def close(self) -> None:
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
