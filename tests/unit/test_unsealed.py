"""The unsealed memo: a repeat read of an unchanged session skips decryption, and nothing else.

Every case reads the (in-process) store, as a check with the session cache off does; what must
hold is that the memo never answers for a value, key or session it did not open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from authgate.model import Identity, SessionData, TokenSet
from authgate.session import service as sessions_module
from authgate.session.cache import SessionCache
from authgate.session.sealing import seal
from authgate.session.service import SessionService
from authgate.session.tickets import Ticket
from authgate.session.unsealed import UnsealedMemo
from authgate.store import MemoryStore
from authgate.store.keys import session_key


@pytest.fixture
async def svc() -> AsyncIterator[SessionService]:
    yield SessionService(MemoryStore(), None, ttl=3600, cache=SessionCache(max_age=0))  # type: ignore[arg-type]


def tokens(sub: str = "alice") -> TokenSet:
    return TokenSet("access", "id", "refresh", 3600, {"sub": sub, "preferred_username": sub})


@pytest.fixture
def unseals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The session ids actually decrypted."""
    calls: list[str] = []
    real = sessions_module.unseal

    def counting(key: bytes, session_id: str, blob: bytes) -> object:
        calls.append(session_id)
        return real(key, session_id, blob)

    monkeypatch.setattr(sessions_module, "unseal", counting)
    return calls


async def test_an_unchanged_session_is_decrypted_once(svc: SessionService, unseals: list[str]) -> None:
    ticket = await svc.create(tokens(), scope="app.test")
    first = await svc.load(ticket)
    second = await svc.load(ticket)
    assert first is not None and second is first
    assert unseals == [ticket.session_id]
    assert svc.memo_of(ticket, second) is svc.memo_of(ticket, first)  # its 200 reply is kept too


async def test_a_rewritten_session_is_decrypted_again(svc: SessionService, unseals: list[str]) -> None:
    ticket = await svc.create(tokens(), scope="app.test")
    first = await svc.load(ticket, use_cache=False)
    assert first is not None
    await svc.load(ticket)
    first.access_token = "refreshed"
    await svc.save(ticket, first)  # what a refresh does: a new sealing, a new nonce
    again = await svc.load(ticket)
    assert again is not None and again.access_token == "refreshed"
    assert unseals.count(ticket.session_id) == 3


async def test_a_deleted_session_is_gone_whatever_the_memo_holds(svc: SessionService) -> None:
    ticket = await svc.create(tokens(), scope="app.test")
    assert await svc.load(ticket) is not None
    await svc.store.delete(session_key(ticket.session_id))  # as another replica's sign-out does
    assert await svc.load(ticket) is None


async def test_the_wrong_key_is_refused_with_the_value_in_the_memo(svc: SessionService) -> None:
    ticket = await svc.create(tokens(), scope="app.test")
    assert await svc.load(ticket) is not None
    forged = Ticket(ticket.session_id, bytes(32))
    assert await svc.load(forged) is None


async def test_an_expired_session_is_refused_from_the_memo(svc: SessionService) -> None:
    ticket = await svc.create(tokens(), scope="app.test")
    data = await svc.load(ticket)
    assert data is not None
    data.expires_at = 1.0  # the memo's object says it ended: the check is made on every read
    assert await svc.load(ticket) is None


async def test_use_cache_false_gives_a_fresh_object(svc: SessionService, unseals: list[str]) -> None:
    ticket = await svc.create(tokens(), scope="app.test")
    shared = await svc.load(ticket)
    fresh = await svc.load(ticket, use_cache=False)
    assert fresh is not None and fresh is not shared and fresh.access_token == "access"
    assert unseals.count(ticket.session_id) == 2


def test_memo_matches_nonce_and_tag_key_and_session() -> None:
    memo = UnsealedMemo(max_entries=2)
    key, other_key = bytes(range(32)), bytes(32)
    data = SessionData(Identity(sub="alice"), "a", "id", "", 0.0, 0.0, 0.0, 4e9)
    blob = seal(key, "s1", data.to_json())
    memo.put("s1", key, blob, data)
    assert memo.get("s1", key, blob) is not None
    assert memo.get("s1", other_key, blob) is None  # another key
    assert memo.get("s2", key, blob) is None  # another session
    assert memo.get("s1", key, seal(key, "s1", data.to_json())) is None  # another sealing
    assert memo.get("s1", key, blob[:-1] + bytes([blob[-1] ^ 1])) is None  # a changed tag
    assert memo.get("s1", key, bytes([blob[0] ^ 1]) + blob[1:]) is None  # a changed nonce
    memo.put("s2", key, blob, data)
    memo.get("s1", key, blob)  # s1 used last: s2 is the oldest
    memo.put("s3", key, blob, data)
    assert len(memo) == 2 and memo.peek("s2") is None and memo.peek("s1") is not None
    memo.evict("s1")
    assert memo.peek("s1") is None
