"""Known answers for what authgate stores and sends: the sealed session and the ticket cookie.

Both outlive a deploy: sessions sealed by the previous release sit in Redis, and browsers hold
cookies signed by it. A change of cipher, key length, nonce, associated data, encoding, salt,
digest or key derivation must therefore fail here, and land only as a deliberate, documented
format version that still reads the old one (docs/testing.md). Each format is checked twice:
against bytes recorded from the current code (old data stays readable, new data is the same),
and against its description rebuilt from the primitives (so the recorded bytes are what the docs
say, not just whatever the code once produced).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authgate.model import SessionData
from authgate.session import sealing
from authgate.session.meta import MetaSealer, SessionMeta
from authgate.session.tickets import Ticket, TicketSigner

# --- the sealed session: nonce(12) || AES-256-GCM(key, nonce, compact JSON, aad=session id) ------

SESSION_KEY = bytes(range(32))
SESSION_ID = "AAECAwQFBgcICQoLDA0ODw"
NONCE = bytes(range(100, 112))
SESSION = {"sub": "u-1", "email": "zoë@corp.test", "groups": ["a", "b"], "exp": 1700000000}
SEALED = bytes.fromhex(
    "6465666768696a6b6c6d6e6f3339ad131bcb6cbc4b4f6ecaf6470f9023ab6a28b14e891dfba49c789ec1e52bfb9b"
    "30ee3877e870dfdf5a588f2dbfbf6879a2bc022b6304d8938e8bc3a3c0f278aee13fe17b0b35bb5fdd7321f78f30"
    "d6b8d458cdc8e0564469304ea13b"
)


@pytest.fixture
def fixed_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing.os, "urandom", lambda n: NONCE[:n] + bytes(max(0, n - len(NONCE))))


def test_a_session_sealed_by_an_earlier_release_still_unseals() -> None:
    assert sealing.unseal(SESSION_KEY, SESSION_ID, SEALED) == SESSION


@pytest.mark.usefixtures("fixed_nonce")
def test_sealing_produces_the_recorded_bytes() -> None:
    assert sealing.seal(SESSION_KEY, SESSION_ID, SESSION) == SEALED


def test_the_recorded_bytes_are_the_documented_format() -> None:
    plain = json.dumps(SESSION, separators=(",", ":")).encode()
    expected = NONCE + AESGCM(SESSION_KEY).encrypt(NONCE, plain, SESSION_ID.encode())
    assert expected == SEALED
    assert len(SEALED) == 12 + len(plain) + 16  # nonce, ciphertext, tag


def test_a_fresh_seal_is_aes_256_gcm_with_a_12_byte_nonce() -> None:
    blob = sealing.seal(SESSION_KEY, SESSION_ID, SESSION)
    plain = AESGCM(SESSION_KEY).decrypt(blob[:12], blob[12:], SESSION_ID.encode())
    assert plain == json.dumps(SESSION, separators=(",", ":")).encode()
    # The first half of the key alone (AES-128) does not open it.
    with pytest.raises(InvalidTag):
        AESGCM(SESSION_KEY[:16]).decrypt(blob[:12], blob[12:], SESSION_ID.encode())


def test_unseal_reads_the_documented_format() -> None:
    nonce = bytes(12)
    blob = nonce + AESGCM(SESSION_KEY).encrypt(nonce, b'{"k":"v"}', SESSION_ID.encode())
    assert sealing.unseal(SESSION_KEY, SESSION_ID, blob) == {"k": "v"}


def test_a_blob_of_the_nonce_alone_or_less_is_refused() -> None:
    assert sealing.unseal(SESSION_KEY, SESSION_ID, SEALED[:12]) is None
    assert sealing.unseal(SESSION_KEY, SESSION_ID, SEALED[:28]) is None  # nonce and a tag's length


# --- the ticket cookie: <session id>.<key, base64url>.<HMAC-SHA256, base64url> -----------------------

SECRET = "kat-secret-0123456789abcdefghijklmnop"
TICKET = Ticket("AAECAwQFBgcICQoLDA0ODw", bytes(range(32)))
COOKIE = (
    "AAECAwQFBgcICQoLDA0ODw.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8.LnsL8l6G8JI74Cm0Zg8sxIGdkffiid97Mjx85n2bmJg"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_cookie_signed_by_an_earlier_release_still_verifies() -> None:
    assert TicketSigner([SECRET]).loads(COOKIE) == TICKET
    assert TicketSigner(["a-newer-secret-0123456789abcdefghijk", SECRET]).loads(COOKIE) == TICKET


def test_signing_produces_the_recorded_cookie() -> None:
    assert TicketSigner([SECRET]).dumps(TICKET) == COOKIE


def test_the_recorded_cookie_is_the_documented_format() -> None:
    # itsdangerous with key_derivation="hmac": the signing key is HMAC-SHA256(secret, salt).
    signing_key = hmac.new(SECRET.encode(), b"authgate.ticket", hashlib.sha256).digest()
    payload = f"{TICKET.session_id}.{_b64(TICKET.key)}"
    signature = _b64(hmac.new(signing_key, payload.encode(), hashlib.sha256).digest())
    assert f"{payload}.{signature}" == COOKIE


def test_a_new_ticket_is_a_16_byte_id_and_a_32_byte_key() -> None:
    ticket = Ticket.new()
    assert len(base64.urlsafe_b64decode(ticket.session_id + "==")) == 16
    assert len(ticket.key) == 32
    value = TicketSigner([SECRET]).dumps(ticket)
    sid, key, signature = value.split(".")
    assert (sid, key) == (ticket.session_id, _b64(ticket.key))
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32  # SHA-256


# --- a session's metadata (ag:{<id>}:m): sealed like a session, under HKDF-SHA256(AUTHGATE_SECRET) --

META = SessionMeta("zoë", "u-1", "app.corp.test", 1700000000.0, 1700604800.0, 1700000100.5)
META_SEALED = bytes.fromhex(
    "6465666768696a6b6c6d6e6f19e03e149e3ba49c5f0fab4a1d94f9002b2755d14fcf80f27062d1d47ed8a5a270fb26f3"
    "38f732b31228ba7cfe8c6a4614d3c3bd06bfe3531454c6910540a341039e0b8b03554b8c766fd950bfe7dd7053055c59"
    "37014619d11874e559db0e221fb5735747718cf79cf6667da3369c86ad"
)


def test_metadata_sealed_by_an_earlier_release_still_opens() -> None:
    assert MetaSealer([SECRET]).open(SESSION_ID, META_SEALED) == META
    assert MetaSealer(["a-newer-secret-0123456789abcdefghijk", SECRET]).open(SESSION_ID, META_SEALED) == META


@pytest.mark.usefixtures("fixed_nonce")
def test_sealing_metadata_produces_the_recorded_bytes() -> None:
    assert MetaSealer([SECRET]).seal(SESSION_ID, META) == META_SEALED


def test_the_recorded_metadata_is_the_documented_format() -> None:
    # HKDF-SHA256 (RFC 5869) with no salt (32 zero bytes) and the info string, one block of output.
    prk = hmac.new(bytes(32), SECRET.encode(), hashlib.sha256).digest()
    key = hmac.new(prk, b"authgate.session-meta.v1" + b"\x01", hashlib.sha256).digest()
    plain = json.dumps(
        {"u": "zoë", "s": "u-1", "h": "app.corp.test", "c": 1700000000.0, "e": 1700604800.0, "w": 1700000100.5},
        separators=(",", ":"),
    ).encode()
    assert NONCE + AESGCM(key).encrypt(NONCE, plain, SESSION_ID.encode()) == META_SEALED


# --- the session's JSON (types.SessionData; docs/architecture.md "Stored formats") --------------

SESSION_V1 = {  # before email_verified: 5 identity items
    "i": ["u-1", "alice", "a@corp.test", "Alice", ["g"]],
    "at": "AT",
    "it": "IT",
    "rt": None,
    "ae": 0,
    "ai": 1700000000,
    "c": 1700000000,
    "e": 1700600000,
}
SESSION_V2 = {**SESSION_V1, "i": [*SESSION_V1["i"], True], "s": "sid-1", "h": "app.test"}
SESSION_V3 = {  # entitlements (7th identity item) and the IdP's upstream headers ("u"), both optional
    **SESSION_V2,
    "i": [*SESSION_V2["i"], ["read", "write"]],
    "u": [["Authorization", "Basic YTpi"], ["X-Wiki-User", "alice"]],
}


def test_sessions_stored_by_earlier_releases_still_load() -> None:
    v1 = SessionData.from_json(SESSION_V1)
    assert (v1.identity.groups, v1.identity.email_verified, v1.identity.entitlements) == (("g",), False, ())
    assert (v1.idp_sid, v1.scope, v1.upstream) == ("", "", ())
    v2 = SessionData.from_json(SESSION_V2)
    assert (v2.identity.email_verified, v2.identity.entitlements, v2.upstream) == (True, (), ())
    assert (v2.idp_sid, v2.scope) == ("sid-1", "app.test")


def test_a_session_without_the_new_fields_is_stored_as_before() -> None:
    assert SessionData.from_json(SESSION_V2).to_json() == SESSION_V2


def test_entitlements_and_upstream_headers_round_trip() -> None:
    data = SessionData.from_json(SESSION_V3)
    assert data.identity.entitlements == ("read", "write")
    assert data.upstream == (("Authorization", "Basic YTpi"), ("X-Wiki-User", "alice"))
    assert data.to_json() == SESSION_V3
    assert json.dumps(data.to_json(), separators=(",", ":")).count('"u":') == 1


def test_the_metadata_names_its_lane_only_when_it_has_one() -> None:
    """``l``: the lane (issuer and client id) of a session signed in since lanes; metadata written
    before them has none, and reads back with an empty lane (docs/architecture.md)."""
    laned = SessionMeta("alice", "u-1", "app.test", 1.0, 2.0, 1.5, "https://idp.test/o/app client-app")
    assert laned.to_json()["l"] == "https://idp.test/o/app client-app"
    assert SessionMeta.from_json(laned.to_json()) == laned
    assert "l" not in META.to_json()
    assert SessionMeta.from_json(META.to_json()) == META and META.lane == ""
    assert SessionMeta.from_json({**laned.to_json(), "l": 7}) == SessionMeta(*[*vars_of(laned)[:6], "7"])


def vars_of(meta: SessionMeta) -> list[object]:
    return [meta.user, meta.sub, meta.scope, meta.created_at, meta.expires_at, meta.written_at, meta.lane]
