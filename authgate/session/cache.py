"""A replica-local cache of verified sessions: the hot path's zero-round-trip answer.

Correctness rests on invalidation, not on expiry: every write or deletion of a session is
published through the store, and every replica evicts that session on receipt. The cache
serves only while its invalidation feed is live; when the feed drops (Redis down, connection
lost) it is emptied and bypassed, so checks go to the store and fail closed. ``max_age``
bounds staleness should a message ever be missed while the feed looks alive.

Each entry carries one deadline on the monotonic clock: the earliest of ``max_age``, the
session's end and its next token refresh (the caller says how long the session stays usable),
so a hit costs one clock read and one key comparison.

Pure logic: no I/O. Entries hold the session's key to check a ticket against it.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from authgate.lru import LRU
from authgate.model import Answers, SessionData


@dataclass(slots=True)
class Entry:
    key: bytes
    data: SessionData
    fresh_until: float  # time.monotonic()
    # What the HTTP layer derived from this session (its 200 reply), kept as long as the entry.
    memo: Answers[Any] = field(default_factory=Answers)


class SessionCache:
    def __init__(self, *, max_age: float, max_entries: int = 100_000) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: LRU[Entry] = LRU(max_entries)
        self._live = False
        # Bumped on every invalidation: a load that started before it must not be cached.
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self._live and self.max_age > 0

    def set_live(self, live: bool) -> None:
        """The invalidation feed went up or down; either way, nothing cached before is trusted."""
        self._live = live
        self.clear()

    def get(self, session_id: str, key: bytes, now: float | None = None) -> Entry | None:
        if not self.enabled:
            return None
        entry = self._entries.peek(session_id)
        if entry is None:
            return None
        if (time.monotonic() if now is None else now) >= entry.fresh_until or not hmac.compare_digest(entry.key, key):
            self._entries.pop(session_id)
            return None
        return entry

    def put(
        self,
        session_id: str,
        key: bytes,
        data: SessionData,
        generation: int,
        usable_for: float,
        *,
        memo: Answers[Any] | None = None,
    ) -> None:
        """Cache a session read from the store for at most ``usable_for`` seconds (and ``max_age``),
        unless an invalidation happened since the read began."""
        if not self.enabled or generation != self.generation:
            return
        ttl = min(self.max_age, usable_for)
        if ttl <= 0:
            return
        self._entries.put(session_id, Entry(key, data, time.monotonic() + ttl, Answers() if memo is None else memo))

    def evict(self, session_id: str) -> None:
        self.generation += 1
        self._entries.pop(session_id)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
