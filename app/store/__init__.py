"""Where sessions, callback claims and locks live: one small Protocol, two implementations."""

from app.store.base import Store
from app.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]


def open_store(url: str, *, timeout: float) -> Store:
    """The store named by ``url``: Redis for a ``redis*://`` URL, in-process when empty."""
    if not url:
        return MemoryStore()
    from app.store.redis import RedisStore

    return RedisStore.from_url(url, timeout=timeout)
