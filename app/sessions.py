"""Sessions: create, load, refresh exactly once across replicas, end.

A session is one sealed blob under ``ag:{<id>}:s``; its refresh lock sits beside it in the
same hash slot. Writes replace the whole blob in one SET, so no reader ever sees half a
session. Indexes by the IdP's ``sid`` and ``sub`` (hashed) let back-channel logout find them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time

from app import metrics
from app.errors import IdPRejected, IdPUnavailable, TokenValidationError
from app.oidc import OIDCClient
from app.oidc.client import LogoutToken
from app.sealing import seal, unseal
from app.session_cache import Entry, SessionCache
from app.store import Store
from app.tickets import Ticket
from app.types import Identity, SessionData, TokenSet
from app.upstream import NO_BASIC_AUTH, BasicAuth, Upstream, from_claims

log = logging.getLogger("authgate.sessions")

LOCK_LEASE = 5.0  # seconds; renewed every LEASE/3 while the IdP is slow
WAIT_FOR_REFRESH = 10.0  # how long a request waits for another replica's refresh
MAX_MARGIN = 60.0
POLL = 0.05
INVALIDATION_CHANNEL = "ag:invalidate"
JTI_LEEWAY = 120.0  # a logout token's jti is remembered this long past its expiry (clock skew)


def session_key(session_id: str) -> str:
    return f"ag:{{{session_id}}}:s"


def lock_key(session_id: str) -> str:
    return f"ag:{{{session_id}}}:lock"


def index_key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"ag:idx:{kind}:{digest}"


def refresh_margin(data: SessionData) -> float:
    """Refresh this long before expiry: a minute, but never more than half the token's life."""
    lifetime = data.access_expires_at - data.access_issued_at
    return min(MAX_MARGIN, lifetime / 2) if lifetime > 0 else MAX_MARGIN


def needs_refresh(data: SessionData, now: float | None = None) -> bool:
    if not data.access_expires_at or not data.refresh_token:
        return False
    return (time.time() if now is None else now) >= data.access_expires_at - refresh_margin(data)


def usable_for(data: SessionData, now: float) -> float:
    """Seconds from ``now`` until the session ends or its token is due for a refresh."""
    until = data.expires_at - now
    if data.access_expires_at and data.refresh_token:
        until = min(until, data.access_expires_at - refresh_margin(data) - now)
    return until


class SessionService:
    def __init__(
        self,
        store: Store,
        oidc: OIDCClient,
        *,
        ttl: int,
        cache: SessionCache | None = None,
        basic_auth: BasicAuth = NO_BASIC_AUTH,
    ) -> None:
        self.store = store
        self.oidc = oidc
        self.ttl = ttl
        self.cache = cache if cache is not None else SessionCache(max_age=0)
        self.basic_auth = basic_auth
        self._reported: set[tuple[str, str]] = set()  # headers of ak_proxy already logged as left out

    def _upstream(self, claims: dict[str, object]) -> tuple[tuple[str, str], ...]:
        """The checked ak_proxy headers; what was left out is logged once (by name: values may be secrets)."""
        upstream: Upstream = from_claims(claims, self.basic_auth)
        for left_out in upstream.left_out:
            if left_out not in self._reported and len(self._reported) < 1024:
                self._reported.add(left_out)
                log.warning("ak_proxy claim: header %r left out: %s", *left_out)
        return upstream.headers

    async def run_invalidation(self) -> None:
        """Keep the local cache in step with every replica's writes (runs for the app's lifetime).

        The store reconnects by itself; this loop also survives anything unexpected, so the
        cache is never left off for good (while it is off, checks go to the store).
        """
        while True:
            try:
                await self.store.listen(INVALIDATION_CHANNEL, self.cache.evict, self._feed_state)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session cache: invalidation feed failed; restarting it")
                self._feed_state(False)
            await asyncio.sleep(1.0)

    def _feed_state(self, live: bool) -> None:
        self.cache.set_live(live)
        metrics.cache_live.set(1 if live else 0)
        if live:
            log.info("session cache: invalidation feed live")
        else:
            metrics.cache_feed_drops.inc()
            log.warning("session cache: invalidation feed lost; answering from the store until it returns")

    async def _invalidate(self, session_id: str) -> None:
        self.cache.evict(session_id)
        await self.store.publish(INVALIDATION_CHANNEL, session_id)

    async def create(self, tokens: TokenSet, *, scope: str) -> Ticket:
        """A new session, valid on ``scope`` only (a host, or ".<cookie domain>")."""
        now = time.time()
        claims = tokens.claims
        data = SessionData(
            identity=Identity.from_claims(claims),
            access_token=tokens.access_token,
            id_token=tokens.id_token,
            refresh_token=tokens.refresh_token,
            access_expires_at=now + tokens.expires_in if tokens.expires_in else 0.0,
            access_issued_at=now,
            created_at=now,
            expires_at=now + self.ttl,
            idp_sid=str(claims.get("sid") or ""),
            scope=scope,
            upstream=self._upstream(claims),
        )
        ticket = Ticket.new()
        await self._save(ticket, data)
        if data.idp_sid:
            await self.store.index_add(index_key("sid", data.idp_sid), ticket.session_id, self.ttl)
        await self.store.index_add(index_key("sub", data.identity.sub), ticket.session_id, self.ttl)
        return ticket

    async def _save(self, ticket: Ticket, data: SessionData) -> None:
        ttl = data.expires_at - time.time()
        if ttl > 0:
            blob = seal(ticket.key, ticket.session_id, data.to_json())
            await self.store.set(session_key(ticket.session_id), blob, ttl)
            await self._invalidate(ticket.session_id)

    def cached(self, ticket: Ticket) -> Entry | None:
        """The hot path: a session this replica verified lately that needs nothing (no store round
        trip, no refresh due: entries leave the cache when a refresh falls due)."""
        return self.cache.get(ticket.session_id, ticket.key)

    async def load(self, ticket: Ticket, *, use_cache: bool = True) -> SessionData | None:
        """The session the ticket opens, or None (unknown, ended, expired, or wrong key).

        With ``use_cache``, a session in the local cache is answered with no store round trip.
        """
        if use_cache and (hit := self.cached(ticket)) is not None:
            return hit.data
        generation = self.cache.generation
        blob = await self.store.get(session_key(ticket.session_id))
        if blob is None:
            return None
        raw = unseal(ticket.key, ticket.session_id, blob)
        if raw is None:
            return None
        data = SessionData.from_json(raw)
        now = time.time()
        if data.expires_at <= now:
            return None
        if use_cache:
            self.cache.put(ticket.session_id, ticket.key, data, generation, usable_for(data, now))
        return data

    async def delete(self, session_id: str) -> None:
        await self.store.delete(session_key(session_id), lock_key(session_id))
        await self._invalidate(session_id)

    async def logout(self, *, sid: str = "", sub: str = "") -> int:
        """End every session of an IdP session id (or, without one, of a subject)."""
        ids: set[str] = set()
        if sid:
            ids |= await self.store.index_pop(index_key("sid", sid))
        if sub and not sid:
            ids |= await self.store.index_pop(index_key("sub", sub))
        for session_id in ids:
            await self.delete(session_id)
        return len(ids)

    async def logout_once(self, token: LogoutToken) -> int:
        """End the sessions a validated back-channel logout token names, once: a token whose
        ``jti`` was seen before (a replay, by anyone who captured it) raises TokenValidationError."""
        ttl = max(token.expires_at - time.time(), 0.0) + JTI_LEEWAY
        if not await self.store.set_nx(index_key("jti", token.jti), b"1", ttl):
            raise TokenValidationError("this logout token was already used (its jti was seen before)")
        return await self.logout(sid=token.sid, sub=token.sub)

    async def refreshed_if_due(self, ticket: Ticket, data: SessionData) -> SessionData | None:
        """``data`` with a usable access token: refreshed by exactly one replica when due.

        None means the session has ended (the IdP revoked the grant, or it was signed out).
        """
        if not needs_refresh(data):
            return data
        token = secrets.token_bytes(16)
        lock = lock_key(ticket.session_id)
        if await self.store.set_nx(lock, token, LOCK_LEASE):
            renewer = asyncio.create_task(self._renew(lock, token))
            try:
                return await self._refresh_locked(ticket)
            finally:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
                await self.store.delete_if_equals(lock, token)
        if time.time() < data.access_expires_at:
            return data  # still valid: no need to wait for the other replica
        return await self._await_other(ticket, data)

    async def _renew(self, lock: str, token: bytes) -> None:
        while True:
            await asyncio.sleep(LOCK_LEASE / 3)
            if not await self.store.expire_if_equals(lock, token, LOCK_LEASE):
                log.warning("refresh lock lost while refreshing")
                return

    async def _refresh_locked(self, ticket: Ticket) -> SessionData | None:
        current = await self.load(ticket, use_cache=False)  # another replica may have refreshed already
        if current is None or not needs_refresh(current) or not current.refresh_token:
            return current
        try:
            tokens = await self.oidc.refresh(current.refresh_token, sub=current.identity.sub)
        except IdPRejected as exc:
            metrics.refreshes.labels("rejected").inc()
            if exc.ends_session:
                log.info("refresh rejected by the IdP (%s): session ended", exc.error)
                await self.delete(ticket.session_id)
                return None
            log.warning("refresh failed: %s; keeping the session", exc)
            return current
        except (IdPUnavailable, TokenValidationError) as exc:
            metrics.refreshes.labels("failed").inc()
            log.warning("refresh failed: %s; keeping the session", exc)
            return current
        metrics.refreshes.labels("ok").inc()
        now = time.time()
        current.access_token = tokens.access_token
        current.refresh_token = tokens.refresh_token or current.refresh_token
        current.id_token = tokens.id_token or current.id_token
        current.access_issued_at = now
        current.access_expires_at = now + tokens.expires_in if tokens.expires_in else 0.0
        if tokens.claims:
            merged = {**_identity_claims(current.identity), **tokens.claims}
            current.identity = Identity.from_claims(merged)
            if "ak_proxy" in tokens.claims:  # a refresh without the claim keeps the headers signed in with
                current.upstream = self._upstream(merged)
        await self._save(ticket, current)
        return current

    async def _await_other(self, ticket: Ticket, data: SessionData) -> SessionData | None:
        deadline = time.monotonic() + WAIT_FOR_REFRESH
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL)
            latest = await self.load(ticket, use_cache=False)
            if latest is None:
                return None
            if latest.access_token != data.access_token or not needs_refresh(latest):
                return latest
            if await self.store.get(lock_key(ticket.session_id)) is None:
                return await self.refreshed_if_due(ticket, latest)
        return data


def _identity_claims(identity: Identity) -> dict[str, object]:
    return {
        "sub": identity.sub,
        "preferred_username": identity.username,
        "email": identity.email,
        "name": identity.name,
        "groups": list(identity.groups),
        "email_verified": identity.email_verified,
        "entitlements": list(identity.entitlements),
    }
