"""The Redis store (redis-py asyncio): standalone, Sentinel and Cluster.

The only module that imports redis. Every call is bounded by ``timeout`` so a hung Redis cannot
hang the gateway, and every redis error becomes ``StoreUnavailable``; the client reconnects by
itself, so service resumes when Redis returns.

``listen`` holds one subscription on a connection of its own (no silent retries, so a lost
connection shows at once), read in the event loop's I/O callback (``subscription.py``), and pings
it after ``_HEARTBEAT`` quiet seconds, so a silent server is noticed within ``_HEARTBEAT + timeout``.
On a Cluster it subscribes on one master: classic PUBLISH reaches every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.errors import StoreUnavailable
from app.store.subscription import Subscription

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


_HEARTBEAT = 1.0  # seconds between PINGs on a quiet subscription
_HEARTBEAT_MESSAGE = b"authgate-heartbeat"
_RESUBSCRIBE_MAX_DELAY = 2.0

#: Builds a fresh client for one subscription.
Subscriber = Callable[[], Awaitable[Any]]


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisStore:
    shared = True

    def __init__(self, client: Any, *, timeout: float, subscriber: Subscriber, also_close: Sequence[Any] = ()) -> None:
        self._r = client
        self._timeout = timeout
        self._subscriber = subscriber
        self._also_close = tuple(also_close)  # clients ``client`` relies on (Sentinel's own)
        self._cluster = isinstance(client, RedisCluster)
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
            sentinel, master = _sentinel(url, opts)

            async def sentinel_subscriber() -> Any:
                return master(**_subscription_opts())

            return cls(master(), timeout=timeout, subscriber=sentinel_subscriber, also_close=sentinel.sentinels)
        if parts.scheme in ("redis+cluster", "rediss+cluster"):
            plain = url.replace("+cluster", "", 1)
            cluster = RedisCluster.from_url(plain, socket_timeout=timeout, socket_connect_timeout=timeout)
            sub_opts = {**opts, **_subscription_opts()}
            return cls(cluster, timeout=timeout, subscriber=_cluster_subscriber(cluster, plain, sub_opts))

        async def subscriber() -> Any:
            return redis.Redis.from_url(url, **{**opts, **_subscription_opts()})

        return cls(redis.Redis.from_url(url, **opts), timeout=timeout, subscriber=subscriber)

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                if self._cluster:
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
        value: bytes | None = await self._call(self._r.get(key))
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(self._r.set(key, value, px=_ms(ttl)))

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._r.set(key, value, px=_ms(ttl), nx=True)))

    async def getdel(self, key: str) -> bytes | None:
        value: bytes | None = await self._call(self._r.getdel(key))
        return value

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

    async def publish(self, channel: str, message: str) -> None:
        await self._call(self._r.publish(channel, message))

    async def listen(self, channel: str, on_message: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        failures = 0
        while True:
            live = _Liveness(on_live)
            client: Any = None
            conn: Any = None
            subscription: Subscription | None = None
            try:
                async with asyncio.timeout(self._timeout):
                    client = await self._subscriber()
                    conn = client.connection_pool.make_connection()  # not pooled: this one is ours
                    await conn.connect()  # redis-py: address (Sentinel), TLS, AUTH, SELECT
                    subscription = Subscription(_transport_of(conn), channel, on_message, live.lost)
                    await subscription.subscribed
                failures = 0
                live.report(True)
                await subscription.watch(_HEARTBEAT, self._timeout, _HEARTBEAT_MESSAGE)
            except (RedisError, OSError, TimeoutError, StoreUnavailable) as exc:  # SubscriptionLost: OSError
                failures += 1
                if failures == 1:  # once per outage: the retries below are quiet
                    log.warning("redis: invalidation feed: %s: %s; resubscribing", type(exc).__name__, exc)
            finally:
                live.report(False)
                if subscription is not None:
                    subscription.close()
                if conn is not None:
                    await self._quietly(conn.disconnect(nowait=True))
                if client is not None:
                    await self._quietly(client.aclose())
            await asyncio.sleep(min(0.05 * 2**failures, _RESUBSCRIBE_MAX_DELAY))

    async def _quietly(self, closing: Awaitable[Any]) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self._timeout):
                await closing

    async def ping(self) -> None:
        await self._call(self._r.ping())

    async def close(self) -> None:
        for client in (self._r, *self._also_close):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def _cluster_subscriber(cluster: RedisCluster, url: str, opts: dict[str, Any]) -> Subscriber:
    """A plain client for one master of the cluster, a different one on each call."""
    turn = itertools.count()
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]

    async def subscriber() -> Any:
        await cluster.initialize()
        masters = cluster.get_primaries()
        if not masters:
            raise StoreUnavailable("redis: the cluster has no master")
        node = masters[next(turn) % len(masters)]
        host = f"[{node.host}]" if ":" in node.host else node.host
        netloc = f"{userinfo}@{host}:{node.port}" if userinfo else f"{host}:{node.port}"
        return redis.Redis.from_url(urlunsplit(parts._replace(netloc=netloc)), **opts)

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


def _transport_of(conn: Any) -> asyncio.Transport:
    """The transport under a connected redis-py connection (its stream writer, redis-py 5 to 8)."""
    writer = getattr(conn, "_writer", None)
    if not isinstance(writer, asyncio.StreamWriter):
        raise StoreUnavailable("redis: cannot take over the subscription's connection (redis-py changed?)")
    return cast(asyncio.Transport, writer.transport)


def _subscription_opts() -> dict[str, Any]:
    """A subscription's client: an error ends the subscription instead of a silent reconnect."""
    return {"health_check_interval": 0, "retry": Retry(NoBackoff(), 0)}


def _sentinel(url: str, opts: dict[str, Any]) -> tuple[Sentinel, Callable[..., Any]]:
    """``redis+sentinel://[:password@]h1:p1,h2:p2/<master name>[/db]``: the Sentinel manager and a
    factory of clients for the master it names (keyword arguments override connection options)."""
    parts = urlsplit(url)
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, colon, port = item.rpartition(":")
        if not colon or host.startswith("[") != host.endswith("]") or item.endswith("]"):
            host, port = item, ""  # no port given (an IPv6 address is bracketed)
        hosts.append((host.strip("[]"), int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    name = path[0] if path else "mymaster"
    db = int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    password = parts.password or next(iter(query.get("password", [])), None)
    sentinel_opts = {"socket_timeout": opts["socket_timeout"], "socket_connect_timeout": opts["socket_timeout"]}
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_opts, **opts)  # type: ignore[no-untyped-call]
    ssl = parts.scheme.startswith("rediss")

    def master(**extra: Any) -> Any:
        return sentinel.master_for(name, db=db, password=password, ssl=ssl, **extra)

    return sentinel, master
