"""The Redis key schema (authgate/store/keys.py), pinned: every replica of a deployment, and every
release in a rolling upgrade, must spell each key alike, and a session's keys must share a hash slot."""

from __future__ import annotations

import hashlib

import pytest

from authgate.store import keys


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (keys.session_key("S1"), "ag:{S1}:s"),
        (keys.meta_key("S1"), "ag:{S1}:m"),
        (keys.lock_key("S1"), "ag:{S1}:lock"),
        (keys.index_key("sub", "alice"), f"ag:idx:sub:{h('alice')}"),
        (keys.index_key("sid", "alice", "lane"), f"ag:idx:sid:{h('lane' + chr(10) + 'alice')}"),
        (keys.index_key("isub", keys.of_issuer("https://iss.test/", "b")), f"ag:idx:isub:{h('https://iss.test b')}"),
        (keys.claim_key("st"), f"ag:{{l:{h('st')}}}:cb"),
        (keys.failure_key("lane", "Alice"), f"ag:{{hb:{h('lane' + chr(10) + 'alice')}}}:f"),
        (keys.INVALIDATION_CHANNEL, "ag:invalidate"),
        (keys.SESSIONS_PATTERN, "ag:{*}:[ms]"),
    ],
)
def test_each_key_is_spelled_as_every_replica_spells_it(key: str, expected: str) -> None:
    assert key == expected


def test_a_failure_counter_takes_any_username() -> None:
    assert keys.failure_key("", "\udcff").startswith("ag:{hb:")  # a lone surrogate: not UTF-8, still a key


@pytest.mark.parametrize(
    ("key", "session_id"),
    [
        ("ag:{S1}:s", "S1"),
        ("ag:{S1}:m", "S1"),
        ("ag:{S1}:lock", None),
        ("ag:{l:abc}:cb", None),
        ("ag:idx:sub:abc", None),
        ("xag:{S1}:s", None),
    ],
)
def test_the_session_a_scanned_key_belongs_to(key: str, session_id: str | None) -> None:
    assert keys.session_id_of(key) == session_id
