"""The store Protocol: a few atomic key-value operations with expiry.

Every implementation raises ``StoreUnavailable`` (and nothing else) when it cannot answer.
Keys that belong together carry the same ``{hash tag}`` so they share a Redis Cluster slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Store(Protocol):
    #: True when several replicas can share this store (False: in-process only).
    shared: bool

    async def get(self, key: str) -> bytes | None: ...

    async def getex(self, key: str, ttl: float) -> bytes | None:
        """Get ``key`` and reset its expiry to ``ttl`` in one step (a read that extends an idle deadline)."""
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires (``inf`` without an expiry); None when it does not exist."""
        ...

    async def scan(self, match: str) -> frozenset[str]:
        """Every key matching the glob ``match``, on every node (an admin's walk, not for requests)."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        """Set only if absent; True when this call set it (a lock, a claim)."""
        ...

    async def set_xx(self, key: str, value: bytes, ttl: float) -> bool:
        """Set only if present; True when this call replaced it (a write that must not bring back
        what another caller deleted meanwhile)."""
        ...

    async def getdel(self, key: str) -> bytes | None:
        """Get and delete in one atomic step: of concurrent callers exactly one gets the value."""
        ...

    async def delete(self, *keys: str) -> int: ...

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only while it still holds ``value`` (releasing one's own lock)."""
        ...

    async def expire_if_equals(self, key: str, value: bytes, ttl: float) -> bool:
        """Reset ``key``'s expiry only while it still holds ``value`` (renewing one's own lease)."""
        ...

    async def incr_with_ttl(self, key: str, ttl: float) -> int:
        """Add one to the counter at ``key`` and return its new value; a new counter lives ``ttl``
        seconds from its first increment (a fixed window: later increments do not extend it)."""
        ...

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set at ``key`` and push its expiry out to at least ``ttl``."""
        ...

    async def index_pop(self, key: str) -> frozenset[str]:
        """Remove the set at ``key`` and return its members."""
        ...

    async def index_members(self, key: str) -> frozenset[str]:
        """The members of the set at ``key``, which stays as it is."""
        ...

    async def index_remove(self, key: str, *members: str) -> None:
        """Remove ``members`` from the set at ``key`` (a set left empty is gone)."""
        ...

    async def publish(self, channel: str, message: str) -> None:
        """Tell every replica (this one included) ``message`` on ``channel``."""
        ...

    async def listen(self, channel: str, on_message: Callable[[str], None], on_live: Callable[[bool], None]) -> None:
        """Deliver ``channel``'s messages to ``on_message`` until cancelled, reconnecting as needed.

        ``on_live(True)`` once subscribed, ``on_live(False)`` as soon as delivery can no longer be
        trusted (connection lost, server silent); messages published meanwhile may be lost.
        """
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
