"""Bytes per session in Redis: ``INFO memory``'s growth over many sign-ins, and ``MEMORY USAGE``
of every key they added, by kind of key (authgate/store/keys.py: the session, its metadata, the
indexes by IdP session id, subject and username, the sign-in's claim). Used by bench/capacity.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis as redis_lib

from bench.run import rss_kib

__all__ = ["RedisMemory", "kind_of", "redis_memory", "rss_kib"]


def kind_of(key: str) -> str:
    """Which of authgate's keys ``key`` is, as the report names it."""
    if m := re.fullmatch(r"ag:idx:(\w+):[0-9a-f]+", key):
        return f"index ag:idx:{m.group(1)}:*"
    if re.fullmatch(r"ag:\{l:[0-9a-f]+\}:cb", key):
        return "sign-in claim ag:{l:*}:cb"
    if m := re.fullmatch(r"ag:\{[^}]+\}:(\w+)", key):
        return {"s": "session ag:{id}:s", "m": "metadata ag:{id}:m"}.get(m.group(1), f"ag:{{id}}:{m.group(1)}")
    return key


@dataclass
class RedisMemory:
    sessions: int
    used_per_session: float = 0.0
    #: kind of key -> (keys per session, MEMORY USAGE bytes per session)
    kinds: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: kind of key -> seconds to live of one of them (-1: none)
    ttls: dict[str, float] = field(default_factory=dict)


def _keys(client: redis_lib.Redis) -> set[str]:
    return {k.decode() for k in client.scan_iter(match="ag:*", count=1000)}


@contextmanager
def redis_memory(client: redis_lib.Redis, sessions: int) -> Iterator[RedisMemory]:
    """What the block's ``sessions`` sign-ins added to Redis, per session."""
    result = RedisMemory(sessions)
    before, used = _keys(client), int(client.info("memory")["used_memory"])
    yield result
    result.used_per_session = (int(client.info("memory")["used_memory"]) - used) / sessions
    sizes: dict[str, list[int]] = defaultdict(list)
    for key in sorted(_keys(client) - before):
        kind = kind_of(key)
        sizes[kind].append(client.memory_usage(key, samples=0) or 0)
        if kind not in result.ttls:
            result.ttls[kind] = client.pttl(key) / 1000
    result.kinds = {
        kind: (len(found) / sessions, sum(found) / sessions)
        for kind, found in sorted(sizes.items(), key=lambda item: -sum(item[1]))
    }
