"""The byte-bounded memo behind the hot path's parse and Cookie caches (authgate/lru.py)."""

from __future__ import annotations

from authgate.access import forwarded
from authgate.lru import ENTRY_OVERHEAD, LRU, ByteLRU


def test_distinct_long_keys_cannot_grow_it_past_its_budget() -> None:
    memo: ByteLRU[int] = ByteLRU(100_000, max_key=8192)
    for i in range(1_000):
        memo.put(f"{i:05d}" + "x" * 8000, i)
        assert memo.used <= memo.budget
    assert len(memo) == 100_000 // (8005 + ENTRY_OVERHEAD)


def test_least_recently_used_goes_first_and_long_keys_are_not_kept() -> None:
    memo: ByteLRU[str] = ByteLRU(3 * (1 + ENTRY_OVERHEAD), max_key=10)
    for key in "abc":
        memo.put(key, key.upper())
    assert memo.get("a") == "A"  # now the most recent
    memo.put("d", "D")
    assert memo.get("b") is None and memo.get("a") == "A" and memo.get("d") == "D"
    memo.put("k" * 11, "long")
    assert memo.get("k" * 11) is None


def test_the_parsed_url_cache_is_bounded_in_bytes() -> None:
    budget = forwarded.PARSED.budget
    for i in range(3_000):
        url = f"https://app.test/{i}/" + "p" * 8000
        forwarded.from_original({"x-original-url": url}, default_scheme="https")
    assert forwarded.PARSED.used <= budget


def test_the_count_bounded_lru_drops_the_least_recent_past_its_bound() -> None:
    memo: LRU[str] = LRU(2)
    memo.put("a", "A")
    memo.put("b", "B")
    assert memo.get("a") == "A"  # now the most recent: "b" goes first
    memo.put("c", "C")
    assert (memo.peek("a"), memo.peek("b"), memo.peek("c"), len(memo)) == ("A", None, "C", 2)


def test_peek_does_not_make_an_entry_recent_and_put_replaces() -> None:
    memo: LRU[str] = LRU(2)
    memo.put("a", "A")
    memo.put("b", "B")
    assert memo.peek("a") == "A"  # not touched: "a" is still the least recent
    memo.put("a", "A2")  # a replacement is the most recent
    memo.put("c", "C")
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == ("A2", None, "C")


def test_pop_and_clear() -> None:
    memo: LRU[int] = LRU(3)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.pop("a") == 1 and memo.pop("a") is None and len(memo) == 1
    memo.clear()
    assert len(memo) == 0 and memo.get("b") is None


# --- Pinned where mutation testing found the tests loose (docs/testing.md) ---
# The byte-bounded memo, pinned where mutation testing found it loose (docs/testing.md).


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
