"""The sign-out return address carried through the IdP in ``state`` (authgate/access/return_to.py)."""

from __future__ import annotations

import hashlib
import random
import string
import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from authgate.access.return_to import MAX_AGE, MAX_STATE, ReturnSigner

A, B, C = "a" * 40, "b" * 40, "c" * 40
RD = "https://app.example.test/bye?x=1&y=%2F#top"


def test_a_signed_address_opens_again_unchanged() -> None:
    signer = ReturnSigner([A])
    state = signer.dumps(RD)
    assert signer.loads(state) == RD


def test_the_state_needs_no_escaping_in_a_query_string() -> None:
    state = ReturnSigner([A]).dumps(RD)
    assert set(state) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_the_first_secret_signs_and_every_secret_opens() -> None:
    old = ReturnSigner([A]).dumps(RD)
    rotated = ReturnSigner([B, A])
    assert rotated.loads(old) == RD
    assert ReturnSigner([B]).loads(rotated.dumps(RD)) == RD
    assert ReturnSigner([A]).loads(rotated.dumps(RD)) is None


def test_a_state_of_another_purpose_or_secret_opens_nothing() -> None:
    state = ReturnSigner([A]).dumps(RD)
    assert ReturnSigner([C]).loads(state) is None
    assert ReturnSigner([A], salt="authgate.other").loads(state) is None


@pytest.mark.parametrize(
    "state",
    [
        "",
        "https://evil.test/",
        "Imh0dHBzOi8vZXZpbC50ZXN0LyI.AAAAAA.forged",
        "not base64 at all.x.y",
        "é",
        "A" * (MAX_STATE + 1),
    ],
)
def test_anything_not_signed_here_opens_nothing(state: str) -> None:
    assert ReturnSigner([A]).loads(state) is None


def test_a_changed_address_fails_its_signature() -> None:
    signer = ReturnSigner([A])
    payload, stamp, sig = signer.dumps(RD).split(".")
    other = ReturnSigner([A]).dumps("https://evil.test/").split(".")[0]
    assert signer.loads(f"{other}.{stamp}.{sig}") is None
    assert signer.loads(f"{payload}.{stamp}.{sig}") == RD


def test_an_old_state_has_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = ReturnSigner([A])
    state = signer.dumps(RD)
    later = time.time() + MAX_AGE + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert signer.loads(state) is None
    assert signer.loads(state, max_age=MAX_AGE + 60) == RD


def reference(key: str) -> URLSafeTimedSerializer:
    """The documented format: itsdangerous' URL-safe timed serializer, salt ``authgate.signed-out``,
    HMAC-SHA256 (docs/security.md)."""
    return URLSafeTimedSerializer(
        key, salt="authgate.signed-out", signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"}
    )


def test_the_state_is_the_documented_format() -> None:
    assert reference(A).loads(ReturnSigner([A]).dumps(RD)) == RD
    assert ReturnSigner([A]).loads(reference(A).dumps(RD)) == RD


def test_a_state_holding_no_string_opens_nothing() -> None:
    assert ReturnSigner([A]).loads(reference(A).dumps({"rd": RD})) is None


def _state_of_length(signer: ReturnSigner, length: int) -> str:
    """A valid state exactly ``length`` long (itsdangerous may compress: search the lengths)."""
    rng = random.Random(0)
    filler = "".join(rng.choice(string.ascii_letters + string.digits + "-_~") for _ in range(length))
    for n in range(length):
        state = signer.dumps("https://app.example.test/" + filler[:n])
        if len(state) == length:
            return state
    raise AssertionError(f"no state of length {length}")


def test_the_length_bound_is_inclusive() -> None:
    signer = ReturnSigner([A])
    assert signer.loads(_state_of_length(signer, MAX_STATE)) is not None
    longer = _state_of_length(signer, MAX_STATE + 1)
    assert len(longer) > MAX_STATE
    assert signer.loads(longer) is None, "a validly signed state over the bound is still refused"
