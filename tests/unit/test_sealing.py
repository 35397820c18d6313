"""Stored sessions sealed with AES-256-GCM under the per-session key."""

from __future__ import annotations

import os

import pytest

from authgate.session.sealing import seal, unseal

KEY = bytes(range(32))
SID = "c2Vzc2lvbi1pZA"
DATA = {"at": "access-token-SECRET", "e": "zoë@corp.test", "n": 3, "g": ["a", "b"], "x": None}


def test_round_trip() -> None:
    blob = seal(KEY, SID, DATA)
    assert isinstance(blob, bytes)
    assert unseal(KEY, SID, blob) == DATA


def test_round_trip_empty_dict() -> None:
    assert unseal(KEY, SID, seal(KEY, SID, {})) == {}


def test_ciphertext_reveals_nothing() -> None:
    blob = seal(KEY, SID, DATA)
    assert b"access-token-SECRET" not in blob
    assert "zoë".encode() not in blob
    assert b'"at"' not in blob


def test_fresh_nonce_each_time() -> None:
    a, b = seal(KEY, SID, DATA), seal(KEY, SID, DATA)
    assert a != b
    assert a[:12] != b[:12]
    assert unseal(KEY, SID, a) == unseal(KEY, SID, b) == DATA


def test_wrong_key() -> None:
    blob = seal(KEY, SID, DATA)
    assert unseal(os.urandom(32), SID, blob) is None
    assert unseal(bytes(32), SID, blob) is None


def test_moved_to_another_session_id() -> None:
    blob = seal(KEY, SID, DATA)
    assert unseal(KEY, "another-session", blob) is None
    assert unseal(KEY, SID + "x", blob) is None
    assert unseal(KEY, "", blob) is None


@pytest.mark.parametrize("index", [0, 5, 11, 12, 20, -17, -1])
def test_tampered_blob(index: int) -> None:
    blob = bytearray(seal(KEY, SID, DATA))
    blob[index] ^= 0x01
    assert unseal(KEY, SID, bytes(blob)) is None


def test_truncated_or_extended_blob() -> None:
    blob = seal(KEY, SID, DATA)
    assert unseal(KEY, SID, blob[:-1]) is None
    assert unseal(KEY, SID, blob + b"\x00") is None
    assert unseal(KEY, SID, blob[:12]) is None
    assert unseal(KEY, SID, blob[:5]) is None
    assert unseal(KEY, SID, b"") is None
    assert unseal(KEY, SID, os.urandom(64)) is None


def test_sealed_non_dict_is_not_returned() -> None:
    blob = seal(KEY, SID, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert unseal(KEY, SID, blob) is None
