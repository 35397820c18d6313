"""Sealing of stored sessions: AES-256-GCM under the per-session key that only the cookie holds.

A dump of the store yields ciphertext; without the cookie's ticket no token, email or name
can be read. The session id is bound in as associated data, so a sealed value
cannot be moved to another session's key.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_TAG = 16
#: The lengths of a sealed value's nonce (its first bytes) and GCM tag (its last): together they
#: tell one sealing from another (authgate/session/unsealed.py).
NONCE_AND_TAG = (_NONCE, _TAG)


def seal(key: bytes, session_id: str, data: dict[str, Any]) -> bytes:
    nonce = os.urandom(_NONCE)
    plain = json.dumps(data, separators=(",", ":")).encode()
    return nonce + AESGCM(key).encrypt(nonce, plain, session_id.encode())


def unseal(key: bytes, session_id: str, blob: bytes) -> dict[str, Any] | None:
    """The sealed data, or None when the key is wrong or the blob was tampered with."""
    if len(blob) <= _NONCE:
        return None
    try:
        plain = AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], session_id.encode())
    except InvalidTag:
        return None
    value = json.loads(plain)
    return value if isinstance(value, dict) else None
