"""Pure helpers of sessions: when to refresh, and store keys."""

from __future__ import annotations

import re
import time

import pytest

from authgate.model import Identity, SessionData
from authgate.session.timing import MAX_MARGIN, needs_refresh, refresh_margin, usable_for
from authgate.store.keys import index_key, lock_key, meta_key, session_key

T0 = 1_700_000_000.0


def session(issued: float, expires: float, refresh_token: str | None = "rt") -> SessionData:
    return SessionData(
        identity=Identity(sub="s"),
        access_token="at",
        id_token="it",
        refresh_token=refresh_token,
        access_expires_at=expires,
        access_issued_at=issued,
        created_at=issued,
        expires_at=issued + 86400,
    )


# --- refresh_margin ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [
        (3600, MAX_MARGIN),
        (300, MAX_MARGIN),
        (120, 60.0),
        (119, 59.5),
        (60, 30.0),
        (10, 5.0),
        (1, 0.5),
    ],
)
def test_margin_is_a_minute_but_never_more_than_half_the_lifetime(lifetime: float, margin: float) -> None:
    got = refresh_margin(session(T0, T0 + lifetime))
    assert got == pytest.approx(margin)
    assert got <= lifetime / 2
    assert got <= MAX_MARGIN


def test_margin_when_lifetime_is_unknown_or_nonsense() -> None:
    assert refresh_margin(session(T0, T0)) == MAX_MARGIN
    assert refresh_margin(session(T0, T0 - 10)) == MAX_MARGIN


def test_max_margin_is_a_minute() -> None:
    assert MAX_MARGIN == 60.0


# --- needs_refresh -------------------------------------------------------------------------------


def test_sixty_second_token_refreshed_only_in_its_last_thirty_seconds() -> None:
    data = session(T0, T0 + 60)
    assert not needs_refresh(data, now=T0)
    assert not needs_refresh(data, now=T0 + 1)
    assert not needs_refresh(data, now=T0 + 29.9)
    assert needs_refresh(data, now=T0 + 30)
    assert needs_refresh(data, now=T0 + 59)
    assert needs_refresh(data, now=T0 + 60)
    assert needs_refresh(data, now=T0 + 3600)


def test_hour_token_refreshed_in_its_last_minute() -> None:
    data = session(T0, T0 + 3600)
    assert not needs_refresh(data, now=T0 + 3539)
    assert needs_refresh(data, now=T0 + 3540)


def test_fresh_token_does_not_refresh_right_after_issue() -> None:
    # A short-lived token must not be refreshed on every request straight after sign-in.
    for lifetime in (2, 10, 30, 60, 90, 120, 300):
        data = session(T0, T0 + lifetime)
        assert not needs_refresh(data, now=T0), lifetime
        assert not needs_refresh(data, now=T0 + lifetime / 2 - 0.01), lifetime


def test_no_refresh_without_refresh_token() -> None:
    assert not needs_refresh(session(T0, T0 + 60, refresh_token=None), now=T0 + 1000)
    assert not needs_refresh(session(T0, T0 + 60, refresh_token=""), now=T0 + 1000)


def test_no_refresh_when_expiry_unknown() -> None:
    assert not needs_refresh(session(T0, 0.0), now=T0 + 10**9)


def test_default_now_is_the_wall_clock() -> None:
    now = time.time()
    assert needs_refresh(session(now - 3600, now - 1))
    assert not needs_refresh(session(now, now + 3600))


def test_explicit_now_zero_is_respected() -> None:
    data = session(0.0, 100.0)
    assert not needs_refresh(data, now=0.0)


# --- usable_for: how long a cached session may answer -------------------------------------------


def test_usable_until_the_refresh_falls_due_or_the_session_ends() -> None:
    data = session(T0, T0 + 3600)  # refresh due at T0 + 3540; the session ends at T0 + 86400
    assert usable_for(data, T0) == pytest.approx(3540)
    assert usable_for(data, T0 + 3540) == pytest.approx(0)
    assert usable_for(data, T0 + 4000) < 0
    for now in (T0, T0 + 100, T0 + 3539.9):
        assert (usable_for(data, now) > 0) == (not needs_refresh(data, now))


def test_usable_until_the_end_when_there_is_nothing_to_refresh() -> None:
    assert usable_for(session(T0, T0 + 60, refresh_token=None), T0) == pytest.approx(86400)
    assert usable_for(session(T0, 0.0), T0 + 10) == pytest.approx(86390)
    short = session(T0, T0 + 3600)
    short.expires_at = T0 + 100  # the session ends before the token needs a refresh
    assert usable_for(short, T0) == pytest.approx(100)


# --- store keys ----------------------------------------------------------------------------------


def test_session_lock_and_metadata_share_a_hash_slot() -> None:
    sid = "AbC_d-12"
    s, lk, m = session_key(sid), lock_key(sid), meta_key(sid)
    assert len({s, lk, m}) == 3
    tag = re.compile(r"\{([^}]*)\}")
    tags = [tag.search(k) for k in (s, lk, m)]
    assert all(t is not None and t.group(1) == sid for t in tags)
    assert m == f"ag:{{{sid}}}:m"  # what `authgate sessions` scans for (ag:{*}:m)


def test_index_key_hashes_the_value() -> None:
    k = index_key("sub", "alice@corp.test")
    assert "alice" not in k
    assert k.startswith("ag:idx:sub:")
    assert k == index_key("sub", "alice@corp.test")
    assert k != index_key("sid", "alice@corp.test")
    assert k != index_key("sub", "bob@corp.test")
