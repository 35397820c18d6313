"""The Redis key schema (authgate/store/keys.py), pinned: every replica of a deployment, and every
release in a rolling upgrade, must spell each key alike, and a session's keys must share a hash slot."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from authgate.store import keys


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: keys.session_key("S1"), "ag:{S1}:s"),
        (lambda: keys.meta_key("S1"), "ag:{S1}:m"),
        (lambda: keys.lock_key("S1"), "ag:{S1}:lock"),
        (lambda: keys.index_key("sub", "alice"), f"ag:idx:sub:{h('alice')}"),
        (lambda: keys.index_key("sid", "alice", "lane"), f"ag:idx:sid:{h('lane' + chr(10) + 'alice')}"),
        # An issuer ending in a capital X: only its trailing slash goes.
        (
            lambda: keys.index_key("isub", keys.of_issuer("https://i.test/X/", "b")),
            f"ag:idx:isub:{h('https://i.test/X b')}",
        ),
        (lambda: keys.claim_key("st"), f"ag:{{l:{h('st')}}}:cb"),
        (lambda: keys.failure_key("lane", "Alice"), f"ag:{{hb:{h('lane' + chr(10) + 'alice')}}}:f"),
        (lambda: keys.INVALIDATION_CHANNEL, "ag:invalidate"),
        (lambda: keys.SESSIONS_PATTERN, "ag:{*}:[ms]"),
    ],
)
def test_each_key_is_spelled_as_every_replica_spells_it(make: Callable[[], str], expected: str) -> None:
    assert make() == expected  # made here, not at collection: mutation testing follows the call


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
