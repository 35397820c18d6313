"""The in-process store: for a single replica (and tests); nothing is shared or persisted."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections.abc import Callable


class MemoryStore:
    shared = False

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes | set[str], float]] = {}
        self._ops = 0
        self._subscribers: dict[str, list[Callable[[str], None]]] = {}

    def _live(self, key: str) -> bytes | set[str] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    def _sweep(self) -> None:
        # Expired keys nobody asks for again would otherwise stay forever.
        self._ops += 1
        if self._ops % 1024 == 0:
            now = time.monotonic()
            for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[key]

    async def get(self, key: str) -> bytes | None:
        value = self._live(key)
        return value if isinstance(value, bytes) else None

    async def getex(self, key: str, ttl: float) -> bytes | None:
        value = await self.get(key)
        if value is not None:
            self._data[key] = (value, time.monotonic() + ttl)
        return value

    async def ttl(self, key: str) -> float | None:
        if self._live(key) is None:
            return None
        return self._data[key][1] - time.monotonic()

    async def scan(self, match: str) -> frozenset[str]:
        # `*`, `?` and `[...]` as in Redis's glob; `{` is plain in both (no escapes needed here).
        pattern = re.compile(fnmatch.translate(match), re.S)
        return frozenset(k for k in list(self._data) if pattern.match(k) and self._live(k) is not None)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._sweep()
        self._data[key] = (value, time.monotonic() + ttl)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def set_xx(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) is None:
            return False
        await self.set(key, value, ttl)
        return True

    async def getdel(self, key: str) -> bytes | None:
        value = await self.get(key)
        self._data.pop(key, None)
        return value

    async def delete(self, *keys: str) -> int:
        count = 0
        for key in keys:
            if self._live(key) is not None:
                count += 1
            self._data.pop(key, None)
        return count

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        if self._live(key) == value:
            del self._data[key]
            return True
        return False

    async def expire_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) == value:
            self._data[key] = (value, time.monotonic() + ttl)
            return True
        return False

    async def incr_with_ttl(self, key: str, ttl: float) -> int:
        self._sweep()
        current = self._live(key)
        count = int(current) + 1 if isinstance(current, bytes) else 1
        expiry = self._data[key][1] if current is not None else time.monotonic() + ttl
        self._data[key] = (str(count).encode(), expiry)
        return count

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        self._sweep()
        current = self._live(key)
        members = current if isinstance(current, set) else set()
        members.add(member)
        old_expiry = self._data[key][1] if key in self._data else 0.0
        self._data[key] = (members, max(old_expiry, time.monotonic() + ttl))

    async def index_pop(self, key: str) -> frozenset[str]:
        value = self._live(key)
        self._data.pop(key, None)
        return frozenset(value) if isinstance(value, set) else frozenset()

    async def index_members(self, key: str) -> frozenset[str]:
        value = self._live(key)
        return frozenset(value) if isinstance(value, set) else frozenset()

    async def index_remove(self, key: str, *members: str) -> None:
        value = self._live(key)
        if isinstance(value, set):
            value.difference_update(members)
            if not value:
                del self._data[key]

    async def publish(self, channel: str, message: str) -> None:
        for deliver in self._subscribers.get(channel, ()):
            deliver(message)

    async def listen(self, channel: str, on_message: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        self._subscribers.setdefault(channel, []).append(on_message)
        on_live(True)
        try:
            await asyncio.Event().wait()
        finally:
            self._subscribers[channel].remove(on_message)
            on_live(False)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
