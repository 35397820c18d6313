"""Session metadata, listing and revoking, and the idle timeout, on the in-process store.

The same paths run against real Redis and real proxies in tests/integration/test_session_control.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

import pytest

from authgate.cli import admin
from authgate.cli.admin import SessionAdmin
from authgate.cli.main import main
from authgate.model import TokenSet
from authgate.session.meta import MetaSealer, SessionMeta
from authgate.session.sealing import unseal
from authgate.session.service import SessionService
from authgate.store import MemoryStore
from authgate.store.keys import index_key, meta_key, session_key

SECRET = "Zq8Xw3Lm5Np7Rt2Vb9Kc4Hd6Jf1Gs0Ya"
OLD = "Pk4Lo9Ij2Uh7Yg5Tf3Rd8Es1Wa6Qz0Xc"


def tokens(sub: str, user: str) -> TokenSet:
    return TokenSet("access", "id", "refresh", 3600, {"sub": sub, "preferred_username": user})


class Clock:
    """The memory store's monotonic clock, moved by the test (no waiting for a TTL to run out)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("authgate.store.memory.time", c)
    return c


def service(store: MemoryStore, *, idle: float = 0.0, secrets: list[str] | None = None) -> SessionService:
    meta = MetaSealer(secrets or [SECRET])
    return SessionService(store, None, ttl=3600, idle_ttl=idle, meta=meta)  # type: ignore[arg-type]


def audited(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [{"kind": r.getMessage(), **r.audit} for r in caplog.records if r.name == "authgate.audit"]


# --- the metadata --------------------------------------------------------------------------------


async def test_metadata_names_nobody_without_the_secret_and_opens_under_a_rotated_one() -> None:
    store = MemoryStore()
    svc = service(store, secrets=[OLD])
    ticket = await svc.create(tokens("sub-alice", "alice"), scope="app.test")
    blob = await store.get(meta_key(ticket.session_id))
    assert blob is not None
    assert b"alice" not in blob and b"app.test" not in blob
    opened = MetaSealer([SECRET, OLD]).open(ticket.session_id, blob)  # rotated: the old key still opens
    assert opened is not None and (opened.user, opened.sub, opened.scope) == ("alice", "sub-alice", "app.test")
    assert MetaSealer([SECRET]).open(ticket.session_id, blob) is None, "another secret opened it"
    assert MetaSealer([OLD]).open("another-session", blob) is None, "it opened under another session's id"
    assert MetaSealer([OLD]).open(ticket.session_id, blob[:-1] + bytes([blob[-1] ^ 1])) is None


def test_the_metadata_key_is_not_the_login_cookies_key_nor_the_bare_secret() -> None:
    meta = SessionMeta("u", "s", "h", 1.0, 2.0, 1.5)
    sealed = MetaSealer([SECRET]).seal("sid", meta)
    assert MetaSealer([SECRET]).open("sid", sealed) == meta
    for wrong in (SECRET.encode()[:32], hashlib.sha256(b"authgate.login-state:" + SECRET.encode()).digest()):
        assert unseal(wrong, "sid", sealed) is None


@pytest.mark.parametrize("data", [{}, {"u": "a"}, {"u": "a", "s": "b", "h": "c", "c": "x", "e": 1, "w": 1}])
def test_malformed_metadata_is_unreadable_not_an_error(data: dict[str, Any]) -> None:
    assert SessionMeta.from_json(data) is None


# --- listing and revoking ------------------------------------------------------------------------


async def test_list_by_user_by_subject_and_all() -> None:
    store = MemoryStore()
    svc = service(store)
    a1 = await svc.create(tokens("sub-alice", "alice"), scope="app.test")
    a2 = await svc.create(tokens("sub-alice", "alice"), scope=".corp.test")
    b = await svc.create(tokens("sub-bob", "bob"), scope="app.test")
    sa = SessionAdmin(svc, MetaSealer([SECRET]))
    by_user = await sa.find(user="alice")
    assert {s.session_id for s in by_user} == {a1.session_id, a2.session_id}
    assert {s.session_id for s in await sa.find(sub="sub-alice")} == {a1.session_id, a2.session_id}
    assert {s.session_id for s in await sa.find()} == {a1.session_id, a2.session_id, b.session_id}
    assert await sa.find(user="sub-alice") == [] and await sa.find(sub="alice") == []
    rows = admin.as_rows(by_user)
    assert [r["host"] for r in rows] == ["app.test", ".corp.test"]  # oldest first
    assert all(r["session"] == s.session_id[:8] for r, s in zip(rows, by_user, strict=True))
    assert all(isinstance(r["ends"], str) and r["ends"].endswith("Z") for r in rows)


async def test_revoke_ends_only_those_sessions_cleans_up_and_audits_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="authgate.audit")
    store = MemoryStore()
    svc = service(store)
    alice = [await svc.create(tokens("sub-alice", "alice"), scope="app.test") for _ in range(2)]
    bob = await svc.create(tokens("sub-bob", "bob"), scope="app.test")
    sa = SessionAdmin(svc, MetaSealer([SECRET]))
    revoked = await sa.revoke(user="alice")
    assert {s.session_id for s in revoked} == {t.session_id for t in alice}
    for t in alice:
        assert await svc.load(t) is None
        assert await store.get(meta_key(t.session_id)) is None
    assert await svc.load(bob) is not None
    assert await store.index_members(index_key("user", "alice")) == frozenset()
    assert await store.index_members(index_key("sub", "sub-alice")) == frozenset()
    assert await sa.revoke(user="alice") == []  # nothing left: nothing audited twice
    assert await sa.revoke(sub="sub-bob") != [] and await svc.load(bob) is None
    events = audited(caplog)
    assert sorted(e["session"] for e in events) == sorted(t.session_id[:8] for t in [*alice, bob])
    assert {(e["kind"], e["user"], e["sub"], e["by"]) for e in events} == {
        ("session.revoked", "alice", "sub-alice", "cli"),
        ("session.revoked", "bob", "sub-bob", "cli"),
    }
    assert not any(t.session_id in json.dumps(events) for t in [*alice, bob]), "a whole session id was logged"


async def test_revoke_all_and_sessions_that_predate_their_metadata() -> None:
    store = MemoryStore()
    old = SessionService(store, None, ttl=3600)  # type: ignore[arg-type]  # an earlier release: no metadata
    legacy = await old.create(tokens("sub-carol", "carol"), scope="app.test")
    svc = service(store)
    current = await svc.create(tokens("sub-alice", "alice"), scope="app.test")
    sa = SessionAdmin(svc, MetaSealer([SECRET]))
    rows = {r["session"]: r for r in admin.as_rows(await sa.find())}
    assert rows[legacy.session_id[:8]]["user"] is None and rows[current.session_id[:8]]["user"] == "alice"
    with pytest.raises(ValueError, match="name a user"):
        await sa.revoke()  # nobody named is never everyone
    assert len(await sa.revoke(everyone=True)) == 2
    assert await svc.load(legacy) is None and await svc.load(current) is None
    assert await sa.find() == []


async def test_a_listed_session_whose_key_has_expired_is_gone(clock: Clock) -> None:
    store = MemoryStore()
    svc = service(store, idle=60)
    ticket = await svc.create(tokens("sub-alice", "alice"), scope="app.test")
    sa = SessionAdmin(svc, MetaSealer([SECRET]))
    assert len(await sa.find(user="alice")) == 1
    clock.now += 61  # idle: the session's key is gone, its metadata (absolute TTL) is not
    assert await store.get(meta_key(ticket.session_id)) is not None
    assert await sa.find(user="alice") == [] and await sa.find() == []


def test_the_table_escapes_control_characters_from_the_idp() -> None:
    meta = SessionMeta("mallory\x1b[2J\x1b]0;pwned\x07", "s\r\nforged", "app.test", 0.0, 10.0, 0.0)
    table = admin.as_table(admin.as_rows([admin.Listed("abcdefghijklmnop", meta, math.inf)]))
    assert "\x1b" not in table and "\x07" not in table and "\r" not in table
    assert "mallory\\x1b[2J" in table and "s\\r\\nforged" in table
    assert len(table.splitlines()) == 2 and "abcdefgh " in table and "abcdefghi" not in table


@pytest.mark.parametrize(
    "argv",
    [["sessions", "revoke"], ["sessions", "revoke", "--user", "a", "--all"], ["sessions", "list", "--all"]],
)
def test_revoke_must_say_whose_sessions(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


# --- the idle timeout ----------------------------------------------------------------------------


async def test_use_keeps_a_session_alive_past_its_idle_timeout_and_idleness_ends_it(clock: Clock) -> None:
    store = MemoryStore()
    svc = service(store, idle=60)
    ticket = await svc.create(tokens("sub-alice", "alice"), scope="app.test")
    left = await store.ttl(session_key(ticket.session_id))
    assert left is not None and left == pytest.approx(60)
    meta_left = await store.ttl(meta_key(ticket.session_id))
    assert meta_left is not None and meta_left == pytest.approx(3600, abs=1)  # the absolute end
    for _ in range(5):  # 250 s of use, every 50 s
        clock.now += 50
        assert await svc.load(ticket, use_cache=False) is not None
    clock.now += 61
    assert await svc.load(ticket, use_cache=False) is None


async def test_without_an_idle_timeout_the_key_lives_as_long_as_the_session(clock: Clock) -> None:
    store = MemoryStore()
    svc = service(store)
    ticket = await svc.create(tokens("sub-alice", "alice"), scope="app.test")
    left = await store.ttl(session_key(ticket.session_id))
    assert left is not None and left == pytest.approx(3600, abs=1)
    clock.now += 3000
    assert await svc.load(ticket, use_cache=False) is not None
