"""A least-recently-used memo bounded by the size of its keys, not by their number.

Pure logic: no I/O. The hot path remembers answers keyed by what clients send (URLs, Cookie
headers); a bound on entries alone lets a client who sends long distinct values grow the memo
to entries x maximum length. Here every entry is charged its key's length plus a fixed
overhead, and the oldest entries go once the budget is spent. Values are charged nothing:
they must be about as large as their keys at most (parsed forms of the key). A value of None
cannot be remembered (it means "not there").
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

#: What one entry costs beyond its key, in characters (dict slot, node, value object).
ENTRY_OVERHEAD = 256


class ByteLRU(Generic[V]):
    """``get(key)``: the remembered value or None; ``put(key, value)`` remembers it (keys longer
    than ``max_key`` are not remembered, so a caller needs no check of its own)."""

    def __init__(self, budget: int, *, max_key: int) -> None:
        self.budget = budget
        self.max_key = max_key
        self.used = 0
        self._entries: OrderedDict[str, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        if len(key) > self.max_key or key in self._entries:
            return
        self._entries[key] = value
        self.used += len(key) + ENTRY_OVERHEAD
        while self.used > self.budget:
            old, _ = self._entries.popitem(last=False)
            self.used -= len(old) + ENTRY_OVERHEAD
