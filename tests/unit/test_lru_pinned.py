"""The byte-bounded memo, pinned where mutation testing found it loose (docs/testing.md)."""

from __future__ import annotations

from authgate.lru import ByteLRU


def test_a_key_of_exactly_the_longest_length_is_kept() -> None:
    memo: ByteLRU[str] = ByteLRU(10_000, max_key=8)
    memo.put("k" * 8, "eight")
    memo.put("k" * 9, "nine")
    assert memo.get("k" * 8) == "eight"
    assert memo.get("k" * 9) is None
    assert len(memo) == 1


def test_every_entry_costs_more_than_its_key() -> None:
    # Short keys must not let a client fill the memo with millions of entries: each is charged
    # a fixed overhead (256) on top of its length.
    memo: ByteLRU[int] = ByteLRU(10_000, max_key=100)
    for i in range(10_000):
        memo.put(str(i), i)
    assert 30 <= len(memo) <= 10_000 // 256
    assert memo.used <= memo.budget


def test_the_oldest_entry_goes_first_and_putting_again_changes_nothing() -> None:
    memo: ByteLRU[str] = ByteLRU(2 * (1 + 256), max_key=10)
    memo.put("a", "A")
    memo.put("b", "B")
    memo.put("a", "other")  # already there: neither replaced nor refreshed
    assert memo.used == 2 * (1 + 256)
    memo.put("c", "C")
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, "B", "C")
