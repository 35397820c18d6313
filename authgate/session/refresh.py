"""Refreshing a session's tokens exactly once across replicas.

The replica that takes the session's lock (``SET NX`` with a lease, renewed while the IdP is slow)
refreshes it with the session's own client and saves it; the others keep serving the old token
while it is still valid, else wait for the new one (bounded) and take over if the lock holder died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING, Protocol

from authgate.errors import IdPRejected, IdPUnavailable, TokenValidationError
from authgate.model import Identity, SessionData
from authgate.observability import audit, metrics, tracing
from authgate.session.tickets import Ticket
from authgate.session.timing import needs_refresh
from authgate.store.keys import lock_key

if TYPE_CHECKING:
    from authgate.oidc import OIDCClient
    from authgate.store import Store

log = logging.getLogger("authgate.sessions")

LOCK_LEASE = 5.0  # seconds; renewed every LEASE/3 while the IdP is slow
WAIT_FOR_REFRESH = 10.0  # how long a request waits for another replica's refresh
POLL = 0.05


class Sessions(Protocol):
    """What a refresh needs of the session service (authgate/session/service.py): the store for the
    lock, and reading, writing and ending one session with the client that made it."""

    store: Store

    async def load(self, ticket: Ticket, *, use_cache: bool = True) -> SessionData | None: ...
    async def save(self, ticket: Ticket, data: SessionData) -> bool: ...
    async def renamed(self, session_id: str, old: str, new: str) -> None: ...
    async def delete(self, session_id: str) -> None: ...
    def client_of(self, data: SessionData) -> OIDCClient | None: ...
    def upstream_of(self, claims: dict[str, object], scope: str = "") -> tuple[tuple[str, str], ...]: ...


async def refreshed(svc: Sessions, ticket: Ticket, data: SessionData) -> SessionData | None:
    """``data`` refreshed by exactly one replica (it is due); None when the session has ended."""
    token = secrets.token_bytes(16)
    lock = lock_key(ticket.session_id)
    if await svc.store.set_nx(lock, token, LOCK_LEASE):
        renewer = asyncio.create_task(_renew(svc, lock, token))
        try:
            return await _refresh_locked(svc, ticket)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await svc.store.delete_if_equals(lock, token)
    if time.time() < data.access_expires_at:
        return data  # still valid: no need to wait for the other replica
    return await _await_other(svc, ticket, data)


async def _renew(svc: Sessions, lock: str, token: bytes) -> None:
    while True:
        await asyncio.sleep(LOCK_LEASE / 3)
        if not await svc.store.expire_if_equals(lock, token, LOCK_LEASE):
            log.warning("refresh lock lost while refreshing")
            return


async def _refresh_locked(svc: Sessions, ticket: Ticket) -> SessionData | None:
    with tracing.span("session.refresh"):
        return await _refresh(svc, ticket)


async def _refresh(svc: Sessions, ticket: Ticket) -> SessionData | None:
    current = await svc.load(ticket, use_cache=False)  # another replica may have refreshed already
    if current is None or not needs_refresh(current) or not current.refresh_token:
        return current
    who = {"user": current.identity.username, "sub": current.identity.sub}
    try:
        oidc = svc.client_of(current)
        if oidc is None:
            raise IdPRejected("invalid_client", "no app of the rules file names this session's client any more")
        tokens = await oidc.refresh(current.refresh_token, sub=current.identity.sub)
    except IdPRejected as exc:
        metrics.refreshes.labels("rejected").inc()
        audit.event("session.refresh_failed", **who, reason=str(exc), session_ended=exc.ends_session)
        if exc.ends_session:
            await svc.delete(ticket.session_id)
            return None
        return current
    except (IdPUnavailable, TokenValidationError) as exc:
        metrics.refreshes.labels("failed").inc()
        audit.event("session.refresh_failed", **who, reason=str(exc), session_ended=False)
        return current
    metrics.refreshes.labels("ok").inc()
    now = time.time()
    current.access_token = tokens.access_token
    current.refresh_token = tokens.refresh_token or current.refresh_token
    current.id_token = tokens.id_token or current.id_token
    current.access_issued_at = now
    current.access_expires_at = now + tokens.expires_in if tokens.expires_in else 0.0
    was = current.identity.username
    if tokens.claims:
        merged = {**_identity_claims(current.identity), **tokens.claims}
        current.identity = Identity.from_claims(merged)
        if "ak_proxy" in tokens.claims:  # a refresh without the claim keeps the headers signed in with
            current.upstream = svc.upstream_of(merged, current.scope)
    if not await svc.save(ticket, current):
        # Signed out (or revoked, or logged out by the IdP) while the IdP answered: the sign-out
        # was acknowledged, and these new tokens must not bring the session back.
        audit.event("session.refresh_discarded", **who, reason="the session ended during the refresh")
        return None
    # Renamed at the IdP: `authgate sessions --user` finds the session under its new name.
    await svc.renamed(ticket.session_id, was, current.identity.username)
    audit.event("session.refreshed", **who)
    return current


async def _await_other(svc: Sessions, ticket: Ticket, data: SessionData) -> SessionData | None:
    deadline = time.monotonic() + WAIT_FOR_REFRESH
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL)
        latest = await svc.load(ticket, use_cache=False)
        if latest is None:
            return None
        if latest.access_token != data.access_token or not needs_refresh(latest):
            return latest
        if await svc.store.get(lock_key(ticket.session_id)) is None:
            return await refreshed(svc, ticket, latest)  # the holder died: take over
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
