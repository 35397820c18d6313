"""The session cookie's content: an opaque ticket, signed with itsdangerous.

A ticket is a random session id and a random per-session key. The id names the session in the
store; the key unseals it (see ``sealing``). Neither means anything without the other, and
the signature (HMAC-SHA256; the first secret signs, every secret verifies) rejects forgeries
before the store is asked anything.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer

_ID_BYTES = 16
_KEY_BYTES = 32
_MAX_COOKIE = 512


@dataclass(frozen=True, slots=True)
class Ticket:
    session_id: str  # url-safe base64, no padding
    key: bytes

    @classmethod
    def new(cls) -> Ticket:
        sid = base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"=").decode()
        return cls(sid, secrets.token_bytes(_KEY_BYTES))


class TicketSigner:
    """Signs tickets into cookie values and verifies them back (with key rotation)."""

    def __init__(self, secret_keys: Sequence[str], salt: str = "authgate.ticket") -> None:
        # itsdangerous signs with the *last* key; our contract is "the first signs". Verified values
        # are not remembered here: the hot path remembers whole Cookie headers (authgate.session.cookies).
        self._signer = Signer(
            list(reversed(secret_keys)), salt=salt, digest_method=hashlib.sha256, key_derivation="hmac"
        )

    def dumps(self, ticket: Ticket) -> str:
        key = base64.urlsafe_b64encode(ticket.key).rstrip(b"=").decode()
        return self._signer.sign(f"{ticket.session_id}.{key}").decode()

    def loads(self, value: str) -> Ticket | None:
        """The ticket in a cookie value, or None for anything forged, truncated or malformed."""
        if not value or len(value) > _MAX_COOKIE:
            return None
        try:
            payload = self._signer.unsign(value.encode("ascii")).decode("ascii")
            sid, key_b64 = payload.split(".")
            key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))
        except (BadSignature, ValueError, UnicodeError):
            return None
        if len(key) != _KEY_BYTES or not sid:
            return None
        return Ticket(sid, key)
