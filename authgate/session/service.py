"""Sessions: create, load, refresh exactly once across replicas, end.

A session is one sealed blob under ``ag:{<id>}:s``; its refresh lock sits beside it in the
same hash slot, with its metadata for the operator (``session_meta``). Writes replace the whole
blob in one SET, so no reader ever sees half a session. Indexes by the IdP's ``sid``, ``sub`` and
username (hashed) let back-channel logout and ``authgate sessions`` find them. The ``sid`` and
``sub`` indexes are per lane (the issuer and client id the session was signed in with,
``authgate.oidc.clients.lane``): a logout token of one client finds only that client's sessions.

Rolling upgrade: replicas of the release before lanes read and write the unscoped ``sid``/``sub``
indexes only. Sessions are still added to those too, and a logout also looks there, ending a
session found there only when its metadata names the token's lane (or names none: a session
written by an older replica, ended as before). See docs/architecture.md, "Stored formats".

With an idle timeout, the session's key expires after that long unread: each cold read is a
GETEX that pushes it out (one command), and cache hits touch nothing. A cache entry lives at most
the cache TTL, so an active user's session is re-read, and extended, at least that often.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from authgate.access.upstream import NO_BASIC_AUTH, BasicAuth, Upstream, from_claims
from authgate.model import Answers, Identity, SessionData, TokenSet
from authgate.observability import metrics
from authgate.oidc import OIDCClient
from authgate.oidc.clients import Clients, lane
from authgate.session import refresh
from authgate.session.cache import Entry, SessionCache
from authgate.session.logouts import Logouts
from authgate.session.meta import MetaSealer, SessionMeta
from authgate.session.sealing import seal, unseal
from authgate.session.tickets import Ticket
from authgate.session.timing import needs_refresh, usable_for
from authgate.session.unsealed import UnsealedMemo
from authgate.store import Store
from authgate.store.keys import INVALIDATION_CHANNEL, index_key, lock_key, meta_key, of_issuer, session_key

log = logging.getLogger("authgate.sessions")


class SessionService:
    def __init__(
        self,
        store: Store,
        oidc: OIDCClient,
        *,
        ttl: int,
        cache: SessionCache | None = None,
        idle_ttl: float = 0.0,
        meta: MetaSealer | None = None,
        clients: Clients | None = None,
        basic_auth: BasicAuth = NO_BASIC_AUTH,
    ) -> None:
        self.store = store
        self.oidc = oidc  # the global client
        self.clients = clients  # every client by name (None: the global one only)
        self.ttl = ttl
        self.cache = cache if cache is not None else SessionCache(max_age=0)
        self.unsealed = UnsealedMemo()
        self.idle_ttl = idle_ttl  # 0: no idle timeout
        self.meta = meta
        self.basic_auth = basic_auth
        #: The HTTP Basic attributes and lifetime of the app a session's scope belongs to (set by the
        #: wiring: an app may have its own); the global ones by default.
        self.per_app: Callable[[str], tuple[BasicAuth, int]] = lambda _scope: (self.basic_auth, self.ttl)
        self._reported: set[tuple[str, str]] = set()  # headers of ak_proxy already logged as left out
        #: Ending sessions an IdP names (back- and front-channel logout).
        self.logouts = Logouts(store, meta, self.delete)

    def upstream_of(self, claims: dict[str, object], scope: str = "") -> tuple[tuple[str, str], ...]:
        """The checked ak_proxy headers, with the HTTP Basic credentials of the app of ``scope``; what
        was left out is logged once (by name: values may be secrets)."""
        upstream: Upstream = from_claims(claims, self.per_app(scope)[0])
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
                await self.store.listen(INVALIDATION_CHANNEL, self._evict, self._feed_state)
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

    def _evict(self, session_id: str) -> None:
        self.cache.evict(session_id)
        self.unsealed.evict(session_id)  # memory only: a changed session never matches it anyway

    async def _invalidate(self, session_id: str) -> None:
        self._evict(session_id)
        await self.store.publish(INVALIDATION_CHANNEL, session_id)

    def client_of(self, data: SessionData) -> OIDCClient | None:
        """The client ``data`` was signed in with; None when no app names it any more."""
        return self._client_named(data.client)

    def _client_named(self, name: str) -> OIDCClient | None:
        if self.clients is not None:
            return self.clients.get(name)
        return None if name else self.oidc

    def lane_of(self, name: str) -> str:
        """The lane of the client named ``name`` ("" when no app names it any more)."""
        client = self._client_named(name)
        return lane(client) if client is not None else ""

    async def create(self, tokens: TokenSet, *, scope: str, client: str = "") -> Ticket:
        """A new session, valid on ``scope`` only (a host, or ".<cookie domain>"), made by the OAuth
        client named ``client`` ("": the global one); it lasts as long as that app's sessions do."""
        now = time.time()
        claims = tokens.claims
        ttl = min(self.per_app(scope)[1], self.ttl)  # the indexes outlive it
        data = SessionData(
            identity=Identity.from_claims(claims),
            access_token=tokens.access_token,
            id_token=tokens.id_token,
            refresh_token=tokens.refresh_token,
            access_expires_at=now + tokens.expires_in if tokens.expires_in else 0.0,
            access_issued_at=now,
            created_at=now,
            expires_at=now + ttl,
            idp_sid=str(claims.get("sid") or ""),
            scope=scope,
            client=client,
            upstream=self.upstream_of(claims, scope),
        )
        self._note_no_refresh(tokens, client)
        ticket = Ticket.new()
        await self.save(ticket, data, new=True)
        own = self.lane_of(client)
        for kind, value in (("sid", data.idp_sid), ("sub", data.identity.sub)):
            if value:
                await self.store.index_add(index_key(kind, value, own), ticket.session_id, self.ttl)
                # Unscoped too, for replicas of the release before lanes (a rolling upgrade).
                await self.store.index_add(index_key(kind, value), ticket.session_id, self.ttl)
        await self.store.index_add(index_key("user", data.identity.username), ticket.session_id, self.ttl)
        await self._index_by_issuer(data, ticket.session_id)
        return ticket

    def _note_no_refresh(self, tokens: TokenSet, client: str) -> None:
        """Say once per client that offline_access brought no refresh token: the IdP wants consent
        asked (OpenID Connect Core), or does not allow this client offline access."""
        oidc = self.clients.get(client) if self.clients is not None else self.oidc
        if tokens.refresh_token or oidc is None or "offline_access" not in oidc.scopes:
            return
        if ("no refresh token", client) in self._reported:
            return
        self._reported.add(("no refresh token", client))
        log.warning(
            "the IdP %s issued no refresh token although offline_access was asked for: sessions last "
            "AUTHGATE_SESSION_TTL without asking the IdP again. An IdP may ignore offline_access without "
            "prompt=consent (OpenID Connect Core): set AUTHGATE_PROMPT=consent, or let client %r skip consent "
            "and allow it offline access at the IdP; see docs/identity-providers.md",
            oidc.issuer,
            oidc.client_id,
        )

    async def _index_by_issuer(self, data: SessionData, session_id: str) -> None:
        """The indexes front-channel logout reads: ``sid`` and ``sub`` per issuer, and whether this
        issuer's ID tokens carry a ``sid`` at all (some IdPs' never do: LemonLDAP::NG 2.16)."""
        oidc = self.client_of(data)
        if oidc is None:
            return
        if data.idp_sid:
            await self.store.index_add(index_key("isid", of_issuer(oidc.issuer, data.idp_sid)), session_id, self.ttl)
            await self.store.set(index_key("isids", of_issuer(oidc.issuer, "")), b"1", self.ttl)
        await self.store.index_add(index_key("isub", of_issuer(oidc.issuer, data.identity.sub)), session_id, self.ttl)

    async def renamed(self, session_id: str, old: str, new: str) -> None:
        """The IdP renamed the session's user (a refresh brought a new username): index the new name."""
        if new != old:
            await self.store.index_add(index_key("user", new), session_id, self.ttl)
            await self.store.index_remove(index_key("user", old), session_id)

    async def save(self, ticket: Ticket, data: SessionData, *, new: bool = False) -> bool:
        """Write the session (``new``: a sign-in); a rewrite (a refresh) only while the session is
        still there: one signed out meanwhile is not brought back. False when nothing was written."""
        now = time.time()
        ttl = data.expires_at - now
        if ttl <= 0:
            return False
        blob = seal(ticket.key, ticket.session_id, data.to_json())
        idle = min(ttl, self.idle_ttl) if self.idle_ttl else ttl
        key = session_key(ticket.session_id)
        if new:
            await self.store.set(key, blob, idle)
        elif not await self.store.set_xx(key, blob, idle):
            return False
        if self.meta is not None:  # the absolute TTL: never outlives the session
            meta = SessionMeta.of(data, now, self.lane_of(data.client))
            sealed = self.meta.seal(ticket.session_id, meta)
            await self.store.set(meta_key(ticket.session_id), sealed, ttl)
        await self._invalidate(ticket.session_id)
        return True

    def cached(self, ticket: Ticket) -> Entry | None:
        """The hot path: a session this replica verified lately that needs nothing (no store round
        trip, no refresh due: entries leave the cache when a refresh falls due)."""
        return self.cache.get(ticket.session_id, ticket.key)

    async def load(self, ticket: Ticket, *, use_cache: bool = True) -> SessionData | None:
        """The session the ticket opens, or None (unknown, ended, expired, or wrong key).

        With ``use_cache``, a session in the local cache is answered with no store round trip, and
        one read unchanged since this replica last opened it is not decrypted again (authgate/session/unsealed.py).
        Without, the result is a fresh object the caller may change.
        """
        if use_cache and (hit := self.cached(ticket)) is not None:
            return hit.data
        generation = self.cache.generation
        key = session_key(ticket.session_id)
        blob = await (self.store.getex(key, self.idle_ttl) if self.idle_ttl else self.store.get(key))
        if blob is None:
            return None
        opened = self.unsealed.get(ticket.session_id, ticket.key, blob) if use_cache else None
        if opened is not None:
            data, memo = opened.data, opened.memo
        else:
            raw = unseal(ticket.key, ticket.session_id, blob)
            if raw is None:
                return None
            data = SessionData.from_json(raw)
            memo = self.unsealed.put(ticket.session_id, ticket.key, blob, data).memo if use_cache else Answers()
        now = time.time()
        if data.expires_at <= now:
            return None
        if use_cache:
            self.cache.put(ticket.session_id, ticket.key, data, generation, usable_for(data, now), memo=memo)
        return data

    def memo_of(self, ticket: Ticket, data: SessionData) -> Answers[Any]:
        """Where the HTTP layer may keep what it derives from ``data`` (its 200 reply): shared by
        every check of this session until it changes; a throwaway one for a session not kept."""
        entry = self.cached(ticket)
        if entry is not None and entry.data is data:
            return entry.memo
        opened = self.unsealed.peek(ticket.session_id)
        return opened.memo if opened is not None and opened.data is data else Answers()

    async def delete(self, session_id: str) -> None:
        await self.store.delete(session_key(session_id), lock_key(session_id), meta_key(session_id))
        await self._invalidate(session_id)

    async def refreshed_if_due(self, ticket: Ticket, data: SessionData) -> SessionData | None:
        """``data`` with a usable access token: refreshed by exactly one replica when due
        (authgate/session/refresh.py). None means the session has ended (the IdP revoked the grant, or it was
        signed out)."""
        if not needs_refresh(data):
            return data
        return await refresh.refreshed(self, ticket, data)
