"""Where sessions, callback claims and locks live: one small Protocol, two implementations."""

from authgate.errors import ConfigError
from authgate.store.base import Store
from authgate.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]


def open_store(url: str, *, timeout: float) -> Store:
    """The store named by ``url``: Redis for a ``redis*://`` URL, in-process when empty.

    ``ConfigError`` for a URL redis-py cannot use (an option's value, a port): the settings check
    its shape (authgate/config/checks.py), redis-py its options."""
    if not url:
        return MemoryStore()
    from authgate.store.redis import RedisStore

    try:
        return RedisStore.from_url(url, timeout=timeout)
    except (ValueError, TypeError) as exc:  # redis-py's words name the option, never the password
        raise ConfigError([f"AUTHGATE_REDIS_URL cannot be used: {exc}"]) from exc
