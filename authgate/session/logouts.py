"""Ending sessions by what someone else names: an IdP's back-channel logout token (its ``sid`` or
``sub`` within one client's lane, once per ``jti``) or front-channel logout (``iss`` and ``sid``).

A lane is a client's issuer and id (authgate/oidc/clients.py ``lane``): a message of one client
never ends another client's sessions. Sessions written before lanes are found in the unscoped
indexes and end when their metadata names the lane, or names none.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from authgate.errors import TokenValidationError
from authgate.oidc.logout_tokens import LogoutToken
from authgate.session.meta import MetaSealer
from authgate.store import Store
from authgate.store.keys import index_key, meta_key, of_issuer

JTI_LEEWAY = 120.0  # a logout token's jti is remembered this long past its expiry (clock skew)


class Logouts:
    """``delete`` ends one session on every replica (the session service's)."""

    def __init__(self, store: Store, meta: MetaSealer | None, delete: Callable[[str], Awaitable[None]]) -> None:
        self.store = store
        self.meta = meta
        self.delete = delete

    async def logout(self, *, lane: str, sid: str = "", sub: str = "") -> int:
        """End every session of ``lane`` (a client's issuer and id) with an IdP session id (or,
        without one, with a subject)."""
        kind, value = ("sid", sid) if sid else ("sub", sub)
        if not value:
            return 0
        ids = set(await self.store.index_pop(index_key(kind, value, lane)))
        unscoped = index_key(kind, value)
        for session_id in await self.store.index_members(unscoped):
            if session_id in ids or await self._in_lane(session_id, lane):
                ids.add(session_id)
                await self.store.index_remove(unscoped, session_id)
        for session_id in ids:
            await self.delete(session_id)
        return len(ids)

    async def logout_front(self, issuer: str, sid: str) -> int:
        """End the sessions a front-channel logout names (OpenID Connect Front-Channel Logout 1.0):
        those of ``issuer`` whose ID token carried this ``sid``. An issuer whose ID tokens carry no
        ``sid`` names the user instead (LemonLDAP::NG sends the subject): then every session of that
        subject at that issuer ends, on every device. Sessions of other issuers are never touched."""
        ids = await self.store.index_pop(index_key("isid", of_issuer(issuer, sid)))
        if not ids and await self.store.get(index_key("isids", of_issuer(issuer, ""))) is None:
            ids = await self.store.index_pop(index_key("isub", of_issuer(issuer, sid)))
        for session_id in ids:
            await self.delete(session_id)
        return len(ids)

    async def _in_lane(self, session_id: str, lane: str) -> bool:
        """Whether a session found in an unscoped index belongs to ``lane``: its metadata says so,
        or cannot say (written before lanes, or unreadable): then it ends, as it did before lanes."""
        if self.meta is None:
            return True
        blob = await self.store.get(meta_key(session_id))
        meta = self.meta.open(session_id, blob) if blob is not None else None
        return meta is None or meta.lane in ("", lane)

    async def logout_once(self, token: LogoutToken, *, lane: str) -> int:
        """End the sessions of ``lane`` a validated back-channel logout token names, once: a token
        whose ``jti`` was seen before in this lane (a replay, by anyone who captured it) raises
        TokenValidationError."""
        ttl = max(token.expires_at - time.time(), 0.0) + JTI_LEEWAY
        if not await self.store.set_nx(index_key("jti", token.jti, lane), b"1", ttl):
            raise TokenValidationError("this logout token was already used (its jti was seen before)")
        return await self.logout(lane=lane, sid=token.sid, sub=token.sub)
