"""Where sessions, callback claims and locks live: one small Protocol, two implementations."""

from authgate.store.base import Store
from authgate.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]


def open_store(url: str, *, timeout: float) -> Store:
    """The store named by ``url``: Redis for a ``redis*://`` URL, in-process when empty."""
    if not url:
        return MemoryStore()
    from authgate.store.redis import RedisStore

    return RedisStore.from_url(url, timeout=timeout)
