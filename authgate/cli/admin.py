"""``authgate sessions list`` and ``revoke``: the operator's view of who is signed in.

Sessions are found through the per-user and per-subject indexes, or for ``--all`` by a SCAN of
every node; what each one is comes from its metadata (``session_meta``), which only a holder of
``AUTHGATE_SECRET`` can read. A session is named by a prefix of its id, never the whole id (the
id is half of what the cookie holds) and never a token.

Revoking is sign-out's path (``SessionService.delete``): the session's keys go, and the
invalidation it publishes empties every replica's cache at once. Each revocation is audited.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from authgate.config import Settings
from authgate.observability import audit
from authgate.session.meta import MetaSealer, SessionMeta
from authgate.session.service import SessionService
from authgate.store import open_store
from authgate.store.keys import SESSIONS_PATTERN, index_key, meta_key, session_id_of, session_key
from authgate.wiring.gateway import build_oidc

#: How much of a session id is shown: enough to tell sessions apart and match audit lines.
PREFIX = 8


def prefix(session_id: str) -> str:
    return session_id[:PREFIX]


@dataclass(frozen=True, slots=True)
class Listed:
    """One live session as the operator sees it (``meta`` None: unreadable, see ``describe``)."""

    session_id: str
    meta: SessionMeta | None
    ends_at: float  # when it ends if left unused: the idle deadline, or the absolute end
    #: Its metadata is there but no configured secret opens it (another AUTHGATE_SECRET wrote it).
    unreadable: bool = False

    def describe(self) -> dict[str, object]:
        m = self.meta
        return {
            "session": prefix(self.session_id),
            # None: the session predates this metadata, or was sealed under a secret no longer configured.
            "user": m.user if m else None,
            "sub": m.sub if m else None,
            "host": m.scope if m else None,
            "created": m.created_at if m else None,
            "refreshed": m.written_at if m else None,
            "ends": min(self.ends_at, m.expires_at) if m else self.ends_at,
        }


class SessionAdmin:
    def __init__(self, sessions: SessionService, meta: MetaSealer) -> None:
        self.sessions = sessions
        self.store = sessions.store
        self.meta = meta

    async def _ids(self, user: str, sub: str) -> set[str]:
        if user:
            return set(await self.store.index_members(index_key("user", user)))
        if sub:
            return set(await self.store.index_members(index_key("sub", sub)))
        return {sid for key in await self.store.scan(SESSIONS_PATTERN) if (sid := session_id_of(key)) is not None}

    async def _read(self, session_id: str) -> tuple[Listed | None, SessionMeta | None]:
        """The live session (None once its key is gone: ended, idle, revoked) and its metadata."""
        blob = await self.store.get(meta_key(session_id))
        meta = self.meta.open(session_id, blob) if blob is not None else None
        left = await self.store.ttl(session_key(session_id))
        if left is None:
            return None, meta
        ends = time.time() + left if left != math.inf else math.inf
        return Listed(session_id, meta, ends, unreadable=blob is not None and meta is None), meta

    async def find(self, *, user: str = "", sub: str = "") -> list[Listed]:
        """Live sessions of ``user`` or ``sub``, or every one; oldest first."""
        found = []
        for session_id in await self._ids(user, sub):
            listed, meta = await self._read(session_id)
            if listed is not None and _matches(meta, user, sub):
                found.append(listed)
        return sorted(found, key=lambda s: (s.meta.created_at if s.meta else 0.0, s.session_id))

    async def revoke(self, *, user: str = "", sub: str = "", everyone: bool = False, by: str = "cli") -> list[Listed]:
        """End every session of ``user`` or ``sub``, or with ``everyone`` every session, on every
        replica at once. Naming nobody without ``everyone`` is refused (ValueError): an empty name
        (an unset shell variable) must never end everyone's sessions."""
        if not (user or sub) and not everyone:
            raise ValueError("name a user or a subject, or ask for everyone")
        revoked = []
        for session_id in await self._ids(user, sub):
            listed, meta = await self._read(session_id)
            if not _matches(meta, user, sub):
                continue  # the name's index is stale: the session's metadata names someone else
            await self.sessions.delete(session_id)
            await self._unindex(session_id, meta, user, sub)
            if listed is None:
                continue  # already ended: only its leftovers were removed
            revoked.append(listed)
            audit.event(
                "session.revoked",
                sub=meta.sub if meta else sub,
                user=meta.user if meta else user,
                session=prefix(session_id),
                by=by,
            )
        return revoked

    async def _unindex(self, session_id: str, meta: SessionMeta | None, user: str, sub: str) -> None:
        keys: Iterable[tuple[str, str]] = [("user", user), ("sub", sub)]
        if meta is not None:
            keys = [*keys, ("user", meta.user), ("sub", meta.sub)]
        for kind, value in {(k, v) for k, v in keys if v}:
            await self.store.index_remove(index_key(kind, value), session_id)


async def run(
    settings: Settings, action: str, *, user: str = "", sub: str = "", everyone: bool = False
) -> list[Listed]:
    """``list`` or ``revoke`` against the configured store (raises ``StoreError`` when it cannot)."""
    store = open_store(settings.redis_url, timeout=settings.store_timeout)
    oidc = build_oidc(settings)  # never called: a SessionService is built with one
    try:
        admin = SessionAdmin(SessionService(store, oidc, ttl=settings.session_ttl), MetaSealer(settings.secret))
        if action == "revoke":
            return await admin.revoke(user=user, sub=sub, everyone=everyone)
        return await admin.find(user=user, sub=sub)
    finally:
        await oidc.aclose()
        await store.close()


def _matches(meta: SessionMeta | None, user: str, sub: str) -> bool:
    """Whether readable metadata agrees with the name asked for (unreadable: the index decides)."""
    if meta is None:
        return True
    return (not user or meta.user == user) and (not sub or meta.sub == sub)


def _when(t: object) -> str | None:
    if not isinstance(t, float) or not math.isfinite(t):
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _printable(value: object) -> str:
    """A value for the operator's terminal: names come from the IdP, and a control character in
    one (an escape sequence) must not reach the terminal as such."""
    text = "-" if value is None else str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def as_rows(sessions: Iterable[Listed]) -> list[dict[str, object]]:
    """The sessions as plain values (times as UTC ISO 8601), for ``--json`` and the table."""
    rows = []
    for s in sessions:
        row = s.describe()
        rows.append({k: _when(v) if k in ("created", "refreshed", "ends") else v for k, v in row.items()})
    return rows


def as_table(rows: list[dict[str, object]]) -> str:
    columns = ["session", "user", "sub", "host", "created", "refreshed", "ends"]
    cells = [[c.upper() for c in columns]] + [[_printable(r[c]) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in cells)
