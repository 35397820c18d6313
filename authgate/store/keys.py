"""The Redis key schema: every key and channel authgate writes, spelled in one place.

Pure logic: no I/O. docs/architecture.md ("Stored formats") says what each one holds. A session's
keys (``ag:{<session id>}:...``) share one hash slot, so a Redis Cluster keeps them on one node;
indexes and counters hash what they name, so no key holds a username, subject or address.
"""

from __future__ import annotations

import hashlib

#: Where a replica announces a session it changed or ended, for every replica's cache.
INVALIDATION_CHANNEL = "ag:invalidate"
#: Every session's blob and metadata (not locks, claims or indexes), for SCAN.
SESSIONS_PATTERN = "ag:{*}:[ms]"


def session_key(session_id: str) -> str:
    """The sealed session."""
    return f"ag:{{{session_id}}}:s"


def meta_key(session_id: str) -> str:
    """The session's sealed metadata, for ``authgate sessions``."""
    return f"ag:{{{session_id}}}:m"


def lock_key(session_id: str) -> str:
    """The lock of the session's refresh."""
    return f"ag:{{{session_id}}}:lock"


def session_id_of(key: str) -> str | None:
    """The session a key of ``SESSIONS_PATTERN`` belongs to; None for any other key."""
    if key.startswith("ag:{") and key.endswith(("}:s", "}:m")):
        return key[4:-3]
    return None


def index_key(kind: str, value: str, lane: str = "") -> str:
    """The index of ``value``; with ``lane``, of that value within one client's lane only."""
    material = f"{lane}\n{value}" if lane else value
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return f"ag:idx:{kind}:{digest}"


def of_issuer(issuer: str, value: str) -> str:
    """An index value that names one IdP's ``sid`` or ``sub``: the same value at another issuer is
    someone else (front-channel logout is looked up by issuer, authgate/web/account.py)."""
    return f"{issuer.rstrip('/')} {value}"


def claim_key(state: str) -> str:
    """The claim of the callback of the sign-in with this ``state``: its code redeemed once."""
    return f"ag:{{l:{hashlib.sha256(state.encode()).hexdigest()[:32]}}}:cb"


def failure_key(lane: str, username: str) -> str:
    """The count of refused passwords of ``username`` at the client of ``lane`` (hashed: any
    length, any bytes)."""
    material = f"{lane}\n{username.lower()}".encode("utf-8", "surrogatepass")
    return f"ag:{{hb:{hashlib.sha256(material).hexdigest()[:32]}}}:f"
