"""The one least-recently-used memo under every cache of authgate, bounded by count or by bytes.

Pure logic: no I/O. ``LRU`` is bounded by its number of entries: for keys of a fixed size (session
ids, digests), where the count bounds the memory (the session cache, the unsealed memo, header
auth's caches). ``ByteLRU`` is bounded by the size of its keys: the hot path remembers answers keyed
by what clients send (URLs, Cookie headers), and a bound on entries alone would let a client who
sends long distinct values grow it to entries x maximum length. There every entry is charged its
key's length plus a fixed overhead, and the oldest entries go once the budget is spent. Values are
charged nothing: they must be about as large as their keys at most (parsed forms of the key).
A value of None cannot be remembered (it means "not there").
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

#: What one entry of a ByteLRU costs beyond its key, in characters (dict slot, node, value object).
ENTRY_OVERHEAD = 256


class _Ordered(Generic[V]):
    """Entries in order of use, least recent first: what both bounds share."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        """The value of ``key``, now the most recent; None when absent."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def peek(self, key: str) -> V | None:
        """The value of ``key`` without making it the most recent."""
        return self._entries.get(key)


class LRU(_Ordered[V]):
    """At most ``max_entries`` values; ``put`` adds or replaces one as the most recent and drops
    the least recent past the bound."""

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries

    def put(self, key: str, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: str) -> V | None:
        return self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class ByteLRU(_Ordered[V]):
    """Bounded by ``budget`` characters of keys (plus ``ENTRY_OVERHEAD`` each). ``put`` keeps the
    first value of a key, and does not remember keys longer than ``max_key``, so a caller needs no
    check of its own."""

    def __init__(self, budget: int, *, max_key: int) -> None:
        super().__init__()
        self.budget = budget
        self.max_key = max_key
        self.used = 0

    def put(self, key: str, value: V) -> None:
        if len(key) > self.max_key or key in self._entries:
            return
        self._entries[key] = value
        self.used += len(key) + ENTRY_OVERHEAD
        while self.used > self.budget:
            old, _ = self._entries.popitem(last=False)
            self.used -= len(old) + ENTRY_OVERHEAD
