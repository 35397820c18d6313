"""A span around every store call, while tracing is on (authgate/observability/tracing.py).

Wrapped around the store once at startup, and only when tracing is on: with tracing off no call
goes through here, so store calls cost nothing extra. Keys are not recorded (they name sessions).
"""

from __future__ import annotations

from collections.abc import Callable

from authgate.observability import tracing
from authgate.store.base import Store


class TracedStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.shared = inner.shared

    async def get(self, key: str) -> bytes | None:
        with tracing.span("store GET", **{"db.operation.name": "GET"}):
            return await self.inner.get(key)

    async def getex(self, key: str, ttl: float) -> bytes | None:
        with tracing.span("store GETEX", **{"db.operation.name": "GETEX"}):
            return await self.inner.getex(key, ttl)

    async def ttl(self, key: str) -> float | None:
        with tracing.span("store PTTL", **{"db.operation.name": "PTTL"}):
            return await self.inner.ttl(key)

    async def scan(self, match: str) -> frozenset[str]:
        with tracing.span("store SCAN", **{"db.operation.name": "SCAN"}):
            return await self.inner.scan(match)

    async def incr_with_ttl(self, key: str, ttl: float) -> int:
        with tracing.span("store INCR", **{"db.operation.name": "INCR"}):
            return await self.inner.incr_with_ttl(key, ttl)

    async def index_members(self, key: str) -> frozenset[str]:
        with tracing.span("store SMEMBERS", **{"db.operation.name": "SMEMBERS"}):
            return await self.inner.index_members(key)

    async def index_remove(self, key: str, *members: str) -> None:
        with tracing.span("store SREM", **{"db.operation.name": "SREM"}):
            await self.inner.index_remove(key, *members)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        with tracing.span("store SET", **{"db.operation.name": "SET"}):
            await self.inner.set(key, value, ttl)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        with tracing.span("store SETNX", **{"db.operation.name": "SETNX"}):
            return await self.inner.set_nx(key, value, ttl)

    async def set_xx(self, key: str, value: bytes, ttl: float) -> bool:
        with tracing.span("store SET XX", **{"db.operation.name": "SET"}):
            return await self.inner.set_xx(key, value, ttl)

    async def getdel(self, key: str) -> bytes | None:
        with tracing.span("store GETDEL", **{"db.operation.name": "GETDEL"}):
            return await self.inner.getdel(key)

    async def delete(self, *keys: str) -> int:
        with tracing.span("store DEL", **{"db.operation.name": "DEL"}):
            return await self.inner.delete(*keys)

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        with tracing.span("store DELIFEQ", **{"db.operation.name": "DELIFEQ"}):
            return await self.inner.delete_if_equals(key, value)

    async def expire_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        with tracing.span("store EXPIREIFEQ", **{"db.operation.name": "EXPIREIFEQ"}):
            return await self.inner.expire_if_equals(key, value, ttl)

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        with tracing.span("store INDEXADD", **{"db.operation.name": "INDEXADD"}):
            await self.inner.index_add(key, member, ttl)

    async def index_pop(self, key: str) -> frozenset[str]:
        with tracing.span("store INDEXPOP", **{"db.operation.name": "INDEXPOP"}):
            return await self.inner.index_pop(key)

    async def publish(self, channel: str, message: str) -> None:
        with tracing.span("store PUBLISH", **{"db.operation.name": "PUBLISH"}):
            await self.inner.publish(channel, message)

    async def listen(self, channel: str, on_message: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        await self.inner.listen(channel, on_message, on_live)  # lives as long as the app: no span

    async def ping(self) -> None:
        with tracing.span("store PING", **{"db.operation.name": "PING"}):
            await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
