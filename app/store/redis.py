"""The Redis store (redis-py asyncio): standalone, Sentinel and Cluster.

The only module that imports redis. Every call is bounded by ``timeout`` so a hung Redis cannot
hang the gateway, and every redis error becomes ``StoreUnavailable``; the client reconnects by
itself, so service resumes when Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from app.errors import StoreUnavailable

T = TypeVar("T")

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


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisStore:
    shared = True

    def __init__(self, client: Any, *, timeout: float) -> None:
        self._r = client
        self._timeout = timeout
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
        }
        parts = urlsplit(url)
        if parts.scheme in ("redis+sentinel", "rediss+sentinel"):
            return cls(_sentinel_client(url, opts), timeout=timeout)
        if parts.scheme in ("redis+cluster", "rediss+cluster"):
            plain = url.replace("+cluster", "", 1)
            return cls(
                RedisCluster.from_url(plain, socket_timeout=timeout, socket_connect_timeout=timeout), timeout=timeout
            )
        return cls(redis.Redis.from_url(url, **opts), timeout=timeout)

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await aw
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc

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

    async def ping(self) -> None:
        await self._call(self._r.ping())

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._r.aclose()


def _sentinel_client(url: str, opts: dict[str, Any]) -> Any:
    """``redis+sentinel://[:password@]h1:p1,h2:p2/<master name>[/db]``."""
    parts = urlsplit(url)
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    master = path[0] if path else "mymaster"
    db = int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    password = parts.password or next(iter(query.get("password", [])), None)
    sentinel_opts = {"socket_timeout": opts["socket_timeout"]}
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_opts, **opts)  # type: ignore[no-untyped-call]
    return sentinel.master_for(master, db=db, password=password, ssl=parts.scheme.startswith("rediss"))
