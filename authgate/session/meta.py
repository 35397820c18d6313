"""What an operator may know about a session: whose it is, where, since and until when.

The session itself is sealed under a key only its cookie holds, so nobody can list sessions
from it. Beside it, in the same hash slot, ``ag:{<session id>}:m`` holds a few facts for
``authgate sessions list``: the username, subject, host (or cookie domain), and when it was
created, last written and ends. They are sealed with AES-256-GCM under a key derived from
``AUTHGATE_SECRET`` (HKDF-SHA256 with its own info string, so no other use of the secret shares
the key), the session id as associated data: a dump of Redis without the secret names nobody.
The first secret seals; every secret opens (rotation).

Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.model import SessionData
from authgate.session.sealing import seal, unseal

HKDF_INFO = b"authgate.session-meta.v1"


def derive_key(secret: str) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode())


@dataclass(frozen=True, slots=True)
class SessionMeta:
    user: str
    sub: str
    scope: str  # the host it opens, or ".<cookie domain>"
    created_at: float
    expires_at: float  # the absolute end (AUTHGATE_SESSION_TTL after sign-in)
    written_at: float  # sign-in or the last token refresh
    # The issuer and client id it was signed in with (authgate.oidc.clients.lane); "" when written before lanes.
    lane: str = ""

    @classmethod
    def of(cls, data: SessionData, now: float, lane: str) -> SessionMeta:
        i = data.identity
        return cls(i.username, i.sub, data.scope, data.created_at, data.expires_at, now, lane)

    def to_json(self) -> dict[str, Any]:
        return {
            "u": self.user,
            "s": self.sub,
            "h": self.scope,
            "c": self.created_at,
            "e": self.expires_at,
            "w": self.written_at,
            **({"l": self.lane} if self.lane else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionMeta | None:
        try:
            return cls(
                str(d["u"]), str(d["s"]), str(d["h"]), float(d["c"]), float(d["e"]), float(d["w"]), str(d.get("l", ""))
            )
        except (KeyError, TypeError, ValueError):
            return None


class MetaSealer:
    """Seals a session's metadata under the first secret's key; opens it under any."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = [derive_key(s) for s in secrets]

    def seal(self, session_id: str, meta: SessionMeta) -> bytes:
        return seal(self._keys[0], session_id, meta.to_json())

    def open(self, session_id: str, blob: bytes) -> SessionMeta | None:
        """The metadata, or None when no secret opens it (tampered, moved, or a retired secret)."""
        for key in self._keys:
            data = unseal(key, session_id, blob)
            if data is not None:
                return SessionMeta.from_json(data)
        return None
