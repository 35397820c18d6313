"""Sign-in: begun with nothing stored, finished by any replica, each callback redeemed once.

``begin`` seals the login state (state, nonce, PKCE verifier, return URL, time) into a cookie
named after its state, under a key derived from ``AUTHGATE_SECRET``. Nothing is written to the
store for a visitor who has not signed in (an anonymous client cannot fill it); several tabs
each hold their own cookie; and only the browser that started a sign-in holds the cookie its
callback needs (login CSRF). A browser holds at most ``MAX_LOGIN_COOKIES``: the oldest goes.

``finish`` opens that cookie first, and only then touches the store: it claims the callback
atomically, so the first arrival redeems the code and copies of the same callback (double
click, retries, another replica) wait for its result and end with the same session. That
result is sealed with a key derived from the code, which the store never sees.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authgate.errors import IdPError, LoginStateError, ReturnURLTooLong
from authgate.model import LoginState
from authgate.oidc import OIDCClient
from authgate.oidc.client import new_secret
from authgate.oidc.clients import Clients
from authgate.session.sealing import seal, unseal
from authgate.session.service import SessionService
from authgate.session.tickets import Ticket
from authgate.store import Store
from authgate.store.keys import claim_key

log = logging.getLogger("authgate.login")

CALLBACK_TTL = 120.0
WAIT_FOR_FIRST = 15.0
POLL = 0.05
MAX_STATE_LENGTH = 128
MAX_CODE_LENGTH = 2048
#: Login cookies one browser holds at once (tabs signing in together); a new one drops the oldest.
MAX_LOGIN_COOKIES = 4
#: The longest return URL kept in a login cookie (a cookie holds 4 KB; several tabs hold several).
MAX_RETURN_URL = 1024
LOGIN_COOKIE_INFIX = "_login_"
_MAX_LOGIN_COOKIE_VALUE = 3072

EXPIRED = (
    "this sign-in link has expired, was already used, or was started in another browser (or its cookies were lost)"
)


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_key(code: str) -> bytes:
    return hashlib.sha256(b"authgate.callback:" + code.encode()).digest()


def return_url(url: str) -> str:
    """``url`` as kept for after the sign-in: a long one loses its query string; a path that is
    itself too long raises ``ReturnURLTooLong``."""
    if len(url) <= MAX_RETURN_URL:
        return url
    cut = url.split("?", 1)[0].split("#", 1)[0]
    if len(cut) > MAX_RETURN_URL:
        raise ReturnURLTooLong(f"the address is longer than {MAX_RETURN_URL} characters")
    return cut


@dataclass(frozen=True, slots=True)
class Begun:
    """A sign-in begun: where to send the browser and the cookies to set and drop."""

    authorization_url: str
    cookie_name: str
    cookie_value: str
    dropped: tuple[str, ...]  # this browser's older login cookies, past the cap or unreadable


@dataclass(frozen=True, slots=True)
class Finished:
    ticket: Ticket
    original_url: str
    cookie_name: str  # the login cookie this sign-in used (to clear)


class CallbackFailed(LoginStateError):
    """The first arrival of this callback failed; copies report the same failure."""


class LoginService:
    def __init__(
        self,
        store: Store,
        clients: Clients,
        sessions: SessionService,
        *,
        ttl: int,
        secrets: Sequence[str],
        cookie_prefix: str,
        cookie_domain: str = "",
    ) -> None:
        self.store = store
        self.clients = clients
        self.sessions = sessions
        self.ttl = ttl
        self.cookie_domain = cookie_domain
        #: The cookie domain of the app at a callback host (set by the wiring: an app may have its own).
        self.cookie_domain_of: Callable[[str], str] = lambda _host: self.cookie_domain
        #: Every login cookie's name starts with this.
        self.cookie_prefix = cookie_prefix + LOGIN_COOKIE_INFIX
        # The first key seals; every key opens (AUTHGATE_SECRET rotation).
        self._keys = [hashlib.sha256(b"authgate.login-state:" + s.encode()).digest() for s in secrets]

    def cookie_name(self, state: str) -> str:
        return self.cookie_prefix + _h(state)[:16]

    async def begin(self, *, original_url: str, redirect_uri: str, held: Mapping[str, str], client: str = "") -> Begun:
        """Seal a new login state into a cookie; return it with the IdP authorization URL.

        ``held``: the login cookies the browser sent (name to value), to keep under the cap;
        ``client``: the OAuth client of the app being signed in to ("": the global one).
        """
        kept = return_url(original_url)
        oidc = self._client(client)
        await oidc.ensure_reachable()
        login = LoginState(
            state=new_secret(),
            nonce=new_secret(),
            code_verifier=new_secret(),
            redirect_uri=redirect_uri,
            original_url=kept,
            created_at=time.time(),
            client=client,
        )
        url = await oidc.authorization_url(
            redirect_uri=redirect_uri, state=login.state, nonce=login.nonce, code_verifier=login.code_verifier
        )
        name = self.cookie_name(login.state)
        # The cookie's name is bound in as associated data: a value cannot be moved to another name.
        sealed = seal(self._keys[0], name, login.to_json())
        value = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        return Begun(url, name, value, self._over_cap(held))

    def _over_cap(self, held: Mapping[str, str]) -> tuple[str, ...]:
        """The held login cookies to drop so that, with a new one, at most MAX_LOGIN_COOKIES remain:
        unreadable and expired ones first, then the oldest."""
        ages: list[tuple[float, str]] = []
        dropped: list[str] = []
        for name, value in held.items():
            login = self._open_cookie(name, value)
            if login is None or self.cookie_name(login.state) != name or self._expired(login):
                dropped.append(name)
            else:
                ages.append((login.created_at, name))
        ages.sort()
        excess = len(ages) - (MAX_LOGIN_COOKIES - 1)
        dropped += [name for _, name in ages[: max(excess, 0)]]
        return tuple(dropped)

    def _open_cookie(self, name: str, value: str) -> LoginState | None:
        blob = _decode(value)
        if blob is None:
            return None
        for key in self._keys:
            data = unseal(key, name, blob)
            if data is not None:
                return _login_from(data)
        return None

    def _find(self, state: str, values: Iterable[str]) -> tuple[LoginState, str] | None:
        """The login state for ``state`` from this browser's cookie values, with the value used."""
        name = self.cookie_name(state)
        for value in values:
            login = self._open_cookie(name, value)
            if login is not None and hmac.compare_digest(login.state, state):
                return login, value
        return None

    def _expired(self, login: LoginState) -> bool:
        return not 0 <= time.time() - login.created_at <= self.ttl

    def abandon(self, state: str, values: Iterable[str]) -> str | None:
        """A pending login the IdP ended with an error: its original URL, for a retry link."""
        if not state or len(state) > MAX_STATE_LENGTH:
            return None
        opened = self._find(state, values)
        return opened[0].original_url if opened else None

    async def finish(self, *, state: str, code: str, values: Iterable[str], iss: str | None = None) -> Finished:
        """Redeem the callback of the sign-in whose login cookie (one of ``values``) holds ``state``;
        ``iss``: the callback's issuer parameter (RFC 9207), None when it had none."""
        if not state or not code or len(state) > MAX_STATE_LENGTH or len(code) > MAX_CODE_LENGTH:
            raise LoginStateError("the sign-in response is missing its state or code")
        opened = self._find(state, values)
        if opened is None:
            raise LoginStateError(EXPIRED)
        login, value = opened
        if self._expired(login):
            raise LoginStateError("this sign-in took too long; please start again")
        name = self.cookie_name(state)
        client = self._client(login.client)
        await client.check_response_issuer(iss)  # before the store: another IdP's code is not ours
        # Only now, with a login state this browser holds, is the store touched.
        claim = claim_key(state)
        browser = _h(value)
        record = {"st": "pending", "c": _h(code), "b": browser}
        if not await self.store.set_nx(claim, json.dumps(record).encode(), CALLBACK_TTL):
            return await self._await_first(claim, code, browser, name)
        try:
            tokens = await client.redeem(
                code=code, redirect_uri=login.redirect_uri, code_verifier=login.code_verifier, nonce=login.nonce
            )
            ticket = await self.sessions.create(tokens, scope=self._scope_of(login), client=login.client)
        except (LoginStateError, IdPError) as exc:
            failed = {**record, "st": "failed", "e": str(exc)}
            await self.store.set(claim, json.dumps(failed).encode(), CALLBACK_TTL)
            raise
        sealed = seal(_code_key(code), claim, {"t": _dump_ticket(ticket), "o": login.original_url})
        done = {**record, "st": "done", "r": sealed.hex()}
        await self.store.set(claim, json.dumps(done).encode(), CALLBACK_TTL)
        return Finished(ticket, login.original_url, name)

    def _client(self, name: str) -> OIDCClient:
        client = self.clients.get(name)
        if client is None:  # the rules file no longer names it (reloaded meanwhile)
            raise LoginStateError("this application's sign-in settings changed; please start again")
        return client

    def _scope_of(self, login: LoginState) -> str:
        return self.scope(urlsplit(login.redirect_uri).hostname or "")

    def scope(self, callback_host: str) -> str:
        """The scope of a session whose callback came to ``callback_host``: that host, or in
        domain-level mode (the global one, or the app's at that host) ".<cookie domain>"."""
        domain = self.cookie_domain_of(callback_host.lower())
        return "." + domain.lstrip(".").lower() if domain else callback_host.lower()

    async def _await_first(self, claim: str, code: str, browser: str, name: str) -> Finished:
        deadline = time.monotonic() + WAIT_FOR_FIRST
        while True:
            raw = await self.store.get(claim)
            if raw is None:
                raise LoginStateError(EXPIRED)
            record = json.loads(raw)
            if not hmac.compare_digest(record.get("c", ""), _h(code)) or not hmac.compare_digest(
                record.get("b", ""), browser
            ):
                raise LoginStateError("this sign-in link was already used")
            if record["st"] == "failed":
                raise CallbackFailed(record.get("e") or "the sign-in failed")
            if record["st"] == "done":
                result = unseal(_code_key(code), claim, bytes.fromhex(record["r"]))
                if result is None:
                    raise LoginStateError("this sign-in link was already used")
                return Finished(_load_ticket(result["t"]), result["o"], name)
            if time.monotonic() > deadline:
                raise LoginStateError("the sign-in is taking too long; please retry")
            await asyncio.sleep(POLL)


def _decode(value: str) -> bytes | None:
    if not value or len(value) > _MAX_LOGIN_COOKIE_VALUE:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def _login_from(data: dict[str, Any]) -> LoginState | None:
    try:
        return LoginState.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def _dump_ticket(ticket: Ticket) -> list[str]:
    return [ticket.session_id, ticket.key.hex()]


def _load_ticket(value: list[str]) -> Ticket:
    return Ticket(value[0], bytes.fromhex(value[1]))
