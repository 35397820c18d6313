"""Sessions already unsealed, by their sealed value: a repeat read of an unchanged session skips
AES-GCM, JSON and building its 200 reply.

A check that misses the session cache (or runs with it off) still reads the store every time, so
a sign-out anywhere is seen at once; what it reads is nearly always what it read last time, the
session as last written. This memo keeps, per session id, the last sealed value this replica
opened (its nonce and GCM tag: a new write has a new random nonce), the key that opened it, and
the result. A read that returns the same nonce and tag, presented with the same key (compared in
constant time), gets that result without decrypting. Whoever could write a value with a copied
nonce and tag into the store could equally put back an old sealed value, which opens: the memo
gives no one more than the store already does.

It holds no decision: whether the session exists, has ended, or needs a refresh is still decided
on every read. Pure logic: no I/O.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from authgate.lru import LRU
from authgate.model import Answers, SessionData
from authgate.session.sealing import NONCE_AND_TAG


@dataclass(slots=True)
class Unsealed:
    key: bytes
    mark: bytes  # the sealed value's nonce and tag
    data: SessionData
    # What the HTTP layer derived from this session (its 200 reply), kept as long as the entry.
    memo: Answers[Any] = field(default_factory=Answers)


def mark_of(blob: bytes) -> bytes:
    return blob[: NONCE_AND_TAG[0]] + blob[-NONCE_AND_TAG[1] :]


class UnsealedMemo:
    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: LRU[Unsealed] = LRU(max_entries)

    def get(self, session_id: str, key: bytes, blob: bytes) -> Unsealed | None:
        entry = self._entries.get(session_id)
        if entry is None or entry.mark != mark_of(blob) or not hmac.compare_digest(entry.key, key):
            return None
        return entry

    def put(self, session_id: str, key: bytes, blob: bytes, data: SessionData) -> Unsealed:
        entry = Unsealed(key, mark_of(blob), data)
        self._entries.put(session_id, entry)
        return entry

    def peek(self, session_id: str) -> Unsealed | None:
        """The entry of ``session_id``, unchecked: for a caller that holds its data already."""
        return self._entries.peek(session_id)

    def evict(self, session_id: str) -> None:
        self._entries.pop(session_id)

    def __len__(self) -> int:
        return len(self._entries)
