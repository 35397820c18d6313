"""The local session cache and its use by SessionService (in-process store; no I/O)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from authgate.model import TokenSet
from authgate.session.cache import SessionCache
from authgate.session.service import SessionService
from authgate.store import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        return await super().get(key)


@pytest.fixture
async def service() -> AsyncIterator[tuple[SessionService, CountingStore]]:
    store = CountingStore()
    svc = SessionService(store, None, ttl=3600, cache=SessionCache(max_age=30))  # type: ignore[arg-type]
    task = asyncio.create_task(svc.run_invalidation())
    await asyncio.sleep(0)
    yield svc, store
    task.cancel()


def tokens(**claims: Any) -> TokenSet:
    return TokenSet("access", "id", "refresh", 3600, {"sub": "alice", **claims})


async def test_repeat_loads_make_no_store_call(service: tuple[SessionService, CountingStore]) -> None:
    svc, store = service
    assert svc.cache.enabled
    ticket = await svc.create(tokens(), scope="app.test")
    first = await svc.load(ticket)
    gets = store.gets
    for _ in range(10):
        assert await svc.load(ticket) is first
    assert store.gets == gets


async def test_delete_and_wrong_key_are_never_served_from_the_cache(
    service: tuple[SessionService, CountingStore],
) -> None:
    svc, _ = service
    ticket = await svc.create(tokens(), scope="app.test")
    assert await svc.load(ticket) is not None
    from authgate.session.tickets import Ticket

    assert await svc.load(Ticket(ticket.session_id, b"\x00" * 32)) is None
    await svc.delete(ticket.session_id)
    assert await svc.load(ticket) is None


async def test_the_cache_is_bypassed_while_the_feed_is_down() -> None:
    cache = SessionCache(max_age=30)
    assert not cache.enabled  # nothing is trusted before the feed is live
    cache.set_live(True)
    assert cache.enabled
    cache.put("s", b"k" * 32, object(), cache.generation, 60)  # type: ignore[arg-type]
    assert cache.get("s", b"k" * 32) is not None
    cache.set_live(False)
    assert cache.get("s", b"k" * 32) is None
    cache.set_live(True)
    assert cache.get("s", b"k" * 32) is None, "entries from before an outage are dropped"


def test_a_load_racing_an_invalidation_is_not_cached() -> None:
    cache = SessionCache(max_age=30)
    cache.set_live(True)
    started = cache.generation
    cache.evict("s")  # arrives while the store read is in flight
    cache.put("s", b"k" * 32, object(), started, 60)  # type: ignore[arg-type]
    assert cache.get("s", b"k" * 32) is None


def test_entries_expire_and_the_size_is_bounded() -> None:
    cache = SessionCache(max_age=5, max_entries=3)
    cache.set_live(True)
    for i in range(5):
        cache.put(f"s{i}", b"k", object(), cache.generation, 60)  # type: ignore[arg-type]
    assert len(cache) == 3
    assert cache.get("s0", b"k") is None and cache.get("s4", b"k") is not None
    entry = cache.get("s4", b"k")
    assert entry is not None
    assert cache.get("s4", b"k", now=entry.fresh_until - 0.001) is not None
    assert cache.get("s4", b"k", now=entry.fresh_until) is None


def test_an_entry_lives_no_longer_than_its_session_stays_usable() -> None:
    cache = SessionCache(max_age=30)
    cache.set_live(True)
    cache.put("short", b"k", object(), cache.generation, 2.0)  # type: ignore[arg-type]
    cache.put("long", b"k", object(), cache.generation, 3600.0)  # type: ignore[arg-type]
    cache.put("due", b"k", object(), cache.generation, 0.0)  # type: ignore[arg-type]
    short, long = cache.get("short", b"k"), cache.get("long", b"k")
    assert short is not None and long is not None
    assert long.fresh_until - short.fresh_until == pytest.approx(28, abs=0.5), "max_age caps the long one"
    assert cache.get("short", b"k", now=short.fresh_until) is None
    assert cache.get("due", b"k") is None, "a session due for a refresh is never cached"


async def test_a_session_leaves_the_cache_when_its_refresh_falls_due(
    service: tuple[SessionService, CountingStore],
) -> None:
    svc, _ = service
    ticket = await svc.create(
        TokenSet("access", "id", "refresh", 0.2, {"sub": "alice"}), scope="app.test"
    )  # refresh due at 0.1 s
    assert await svc.load(ticket) is not None
    assert svc.cached(ticket) is not None
    entry = svc.cache.get(ticket.session_id, ticket.key)
    assert entry is not None
    assert entry.fresh_until - time.monotonic() <= 0.1
    assert svc.cache.get(ticket.session_id, ticket.key, now=entry.fresh_until) is None
    assert svc.cached(ticket) is None, "the hot path then goes to the store, which refreshes"


async def test_the_invalidation_feed_is_restarted_after_an_unexpected_error() -> None:
    class FlakyStore(MemoryStore):
        calls = 0

        async def listen(self, channel: str, on_message: Any, on_live: Any) -> None:
            FlakyStore.calls += 1
            if FlakyStore.calls == 1:
                on_live(True)
                raise ValueError("a bug somewhere")
            await super().listen(channel, on_message, on_live)

    import authgate.session.service as sessions_mod

    svc = SessionService(FlakyStore(), None, ttl=3600, cache=SessionCache(max_age=30))  # type: ignore[arg-type]
    original = asyncio.sleep

    async def fast_sleep(delay: float) -> None:
        await original(0)

    sessions_mod.asyncio.sleep = fast_sleep  # type: ignore[assignment]
    try:
        task = asyncio.create_task(svc.run_invalidation())
        for _ in range(20):
            await original(0)
            if FlakyStore.calls >= 2 and svc.cache.enabled:
                break
        assert FlakyStore.calls == 2
        assert svc.cache.enabled
        task.cancel()
    finally:
        sessions_mod.asyncio.sleep = original  # type: ignore[assignment]


async def test_logout_by_idp_session_or_by_subject(service: tuple[SessionService, CountingStore]) -> None:
    svc, _ = service
    a1 = await svc.create(tokens(sid="idp-1"), scope="app.test")
    a2 = await svc.create(tokens(sid="idp-2"), scope="app.test")
    other = await svc.create(TokenSet("x", "i", "r", 3600, {"sub": "bob", "sid": "idp-3"}), scope="app.test")
    assert await svc.logouts.logout(lane=svc.lane_of(""), sid="idp-1") == 1
    assert await svc.load(a1) is None and await svc.load(a2) is not None
    assert (
        await svc.logouts.logout(lane=svc.lane_of(""), sub="alice") == 2
    )  # a2 and the a1 entry already gone from the store
    assert await svc.load(a2) is None
    assert await svc.load(other) is not None


async def test_a_logout_reaches_only_the_sessions_of_its_own_lane() -> None:
    """Lanes (authgate.oidc.clients.lane): a logout of one client's issuer and id ends that client's sessions
    only; a session indexed by a replica of the release before lanes (no lane in its metadata) is
    found through the unscoped index and ended, as it was before."""
    from types import SimpleNamespace

    from authgate.oidc.clients import Clients, lane
    from authgate.session.meta import MetaSealer
    from authgate.store.keys import index_key, meta_key

    def client(issuer: str, client_id: str) -> Any:
        return SimpleNamespace(issuer=issuer, client_id=client_id)

    portal, grafana = client("https://idp.test/o/portal/", "portal"), client("https://idp.test/o/grafana/", "grafana")
    store = MemoryStore()
    meta = MetaSealer(["s" * 40])
    svc = SessionService(store, portal, ttl=3600, meta=meta, clients=Clients(portal, {"grafana": grafana}))
    on_portal = await svc.create(tokens(sid="idp-1"), scope="portal.test")
    on_grafana = await svc.create(tokens(sid="idp-1"), scope="grafana.test", client="grafana")
    # A session written by an older replica: unscoped indexes only, no lane in its metadata.
    older = await svc.create(tokens(), scope="old.test")
    await store.index_remove(index_key("sub", "alice", lane(portal)), older.session_id)
    raw = meta.open(older.session_id, await store.get(meta_key(older.session_id)) or b"")
    assert raw is not None and raw.lane == lane(portal)
    await store.set(meta_key(older.session_id), meta.seal(older.session_id, replace(raw, lane="")), 3600)

    assert await svc.logouts.logout(lane=lane(grafana), sid="idp-1") == 1  # the same sid, another lane: not portal's
    assert await svc.load(on_grafana) is None and await svc.load(on_portal) is not None
    await svc.logouts.logout(lane=lane(grafana), sub="alice")
    assert await svc.load(older) is None, "a session from before lanes ends as before"
    assert await svc.load(on_portal) is not None
    assert await svc.logouts.logout(lane=lane(portal), sid="idp-1") == 1
    assert await svc.load(on_portal) is None
