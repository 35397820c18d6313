"""Header auth: API clients that send ``Authorization`` instead of a session cookie (what
Authentik calls "intercept header auth"), off unless ``AUTHGATE_HEADER_AUTH`` names a mode.

``bearer``: a JWT signed by the IdP for one of the accepted audiences (authgate/oidc/api_tokens.py).
``basic``: a username and an app password, exchanged at the IdP's token endpoint.

What was accepted is remembered in this process until its token expires, and a refused password
for ``REFUSED_TTL`` seconds, both under an HMAC of the credentials with a key of this process
(never the credentials themselves). Refused passwords are also counted per username and client
(its lane, authgate.oidc.clients.lane: failures at one app's IdP never lock the name out of another's) in the
store, across replicas: after ``FAILURE_LIMIT`` in ``FAILURE_WINDOW`` seconds the IdP is not asked
again for that username until the window ends, so the gateway cannot be used to guess passwords.

The configuration is a small object (``HeaderAuthConfig``) so that it can later be chosen per host.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from authgate.errors import CredentialsRefused, IdPRejected, TokenValidationError
from authgate.lru import LRU
from authgate.model import Answers, Identity
from authgate.oidc import OIDCClient
from authgate.oidc.api_tokens import APIToken, exchange_password, verify_bearer
from authgate.oidc.clients import lane
from authgate.store import Store
from authgate.store.keys import failure_key

BEARER, BASIC = "bearer", "basic"
MAX_AUTHORIZATION = 16384  # characters of the header: a JWT with many groups fits; more is refused unread
MAX_USERNAME = 256
REFUSED_TTL = 30.0  # a refused password is answered from memory this long (the IdP is not asked again)
FAILURE_LIMIT = 10  # refused passwords per username and window, across replicas ...
FAILURE_WINDOW = 300.0  # ... after which the IdP is not asked for that username until the window ends
MAX_REMEMBERED = 4096  # accepted credentials remembered per process (oldest go first)
MAX_REFUSED = 4096

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class HeaderAuthConfig:
    """What header auth accepts: its modes (``bearer``, ``basic``), the audiences a bearer token
    may name, and the IdP's client that checks them."""

    modes: frozenset[str]
    audiences: frozenset[str]
    oidc: OIDCClient


@dataclass(slots=True)
class Accepted:
    """Who an accepted header names, until when; ``memo`` keeps its 200 (the web layer's)."""

    identity: Identity
    access_token: str
    expires_at: float
    memo: Answers[Any] = field(default_factory=Answers)


class _Expiring(Generic[V]):
    """A count-bounded LRU of values with an expiry. Keys are fixed-size digests, so the count
    bounds the memory; values come from the IdP (or are timestamps), never from the client."""

    def __init__(self, size: int) -> None:
        self._entries: LRU[tuple[V, float]] = LRU(size)

    def get(self, key: str, now: float) -> V | None:
        item = self._entries.get(key)
        if item is None:
            return None
        if item[1] <= now:
            self._entries.pop(key)
            return None
        return item[0]

    def put(self, key: str, value: V, until: float) -> None:
        self._entries.put(key, (value, until))


@dataclass(slots=True)
class _Turn:
    """Exchanges of one username take turns; ``users`` counts those holding or awaiting it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def scheme_of(authorization: str, modes: Collection[str]) -> str | None:
    """``bearer`` or ``basic`` when the header uses that scheme and it is enabled, else None."""
    scheme = authorization[:7].partition(" ")[0].lower()
    return scheme if scheme in modes else None


class HeaderAuth:
    def __init__(self, config: HeaderAuthConfig, store: Store) -> None:
        self.config = config
        self._store = store
        self._lane = lane(config.oidc)
        self._key = secrets.token_bytes(32)
        self._accepted: _Expiring[Accepted] = _Expiring(MAX_REMEMBERED)
        self._refused: _Expiring[str] = _Expiring(MAX_REFUSED)
        self._pending: dict[str, asyncio.Future[Accepted]] = {}
        self._turns: dict[str, _Turn] = {}  # per lower-cased username with an exchange under way

    def scheme_of(self, authorization: str) -> str | None:
        return scheme_of(authorization, self.config.modes)

    async def authenticate(self, scheme: str, authorization: str) -> Accepted:
        """Who ``authorization`` names: ``CredentialsRefused`` when no one; ``IdPUnavailable`` /
        ``StoreUnavailable`` when that cannot be known now."""
        if len(authorization) > MAX_AUTHORIZATION:
            raise CredentialsRefused(scheme, "the Authorization header is too long")
        value = authorization[len(scheme) + 1 :].strip()
        if not value:
            raise CredentialsRefused(scheme, "no credentials after the scheme")
        if scheme == BEARER:
            return await self._bearer(value)
        return await self._basic(value)

    def _digest(self, *parts: str) -> str:
        message = "\x00".join(parts).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def _bearer(self, token: str) -> Accepted:
        key = self._digest(BEARER, token)
        known = self._accepted.get(key, time.time())
        if known is not None:
            return known
        try:
            found = await verify_bearer(self.config.oidc, token, self.config.audiences)
        except TokenValidationError as exc:
            raise CredentialsRefused(BEARER, str(exc)) from exc
        return self._accept(key, found)

    async def _basic(self, value: str) -> Accepted:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise CredentialsRefused(BASIC, "not base64 of UTF-8 user:password") from exc
        username, colon, password = decoded.partition(":")
        if not colon or not username or not password:
            raise CredentialsRefused(BASIC, "not user:password", user=username[:MAX_USERNAME])
        if len(username) > MAX_USERNAME:
            raise CredentialsRefused(BASIC, "username too long", user=username[:MAX_USERNAME])
        key = self._digest(BASIC, username, password)
        now = time.time()
        known = self._accepted.get(key, now)
        if known is not None:
            return known  # this very password was accepted: a lockout of the username does not end it
        why = self._refused.get(key, now)
        if why is not None:
            raise CredentialsRefused(BASIC, f"{why} (remembered)", user=username)
        return await self._once(key, lambda: self._exchange(key, username, password))

    async def _exchange(self, key: str, username: str, password: str) -> Accepted:
        """Ask the IdP, unless the username is locked out. One exchange per username at a time in
        this process, each after reading the count: concurrent guesses cannot all pass the check
        before the first is counted (across replicas, at most one per replica can)."""
        name = username.lower()
        turn = self._turns.get(name)
        if turn is None:
            turn = self._turns[name] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                count = await self._store.get(failure_key(self._lane, username))
                if count is not None and int(count) >= FAILURE_LIMIT:
                    why = "too many refused passwords for this username: not asked"
                    raise CredentialsRefused(BASIC, why, user=username)
                return await self._ask(key, username, password)
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[name]

    async def _ask(self, key: str, username: str, password: str) -> Accepted:
        oidc = self.config.oidc
        try:
            found = await exchange_password(oidc, username, password, self.config.audiences)
        except IdPRejected as exc:
            why = f"the IdP refused it ({exc.error})"
            self._refused.put(key, why, time.time() + REFUSED_TTL)
            await self._store.incr_with_ttl(failure_key(self._lane, username), FAILURE_WINDOW)
            raise CredentialsRefused(BASIC, why, user=username) from exc
        except TokenValidationError as exc:
            raise CredentialsRefused(BASIC, f"the IdP's token is not valid: {exc}", user=username) from exc
        return self._accept(key, found)

    def _accept(self, key: str, token: APIToken) -> Accepted:
        accepted = Accepted(Identity.from_claims(token.claims), token.access_token, token.expires_at)
        self._accepted.put(key, accepted, token.expires_at)
        return accepted

    async def _once(self, key: str, make: Callable[[], Awaitable[Accepted]]) -> Accepted:
        """One exchange per credentials at a time: concurrent requests with the same header wait
        for the first one's answer instead of each asking the IdP (and each counting a failure)."""
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(make())
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(pending)

    def _done(self, key: str, done: asyncio.Future[Accepted]) -> None:
        self._pending.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone (clients that hung up)
