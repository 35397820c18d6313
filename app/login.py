"""Sign-in state: started by any replica, finished by any, each step exactly once (SPEC 5.2-5.3).

``begin`` stores state, nonce, PKCE verifier and the original URL under the state for a short
TTL, bound to the browser by the hash of its one login-binding cookie (many tabs share that
cookie, each with its own state). ``finish`` claims the callback atomically: the first arrival
redeems the code; copies of the same callback (double click, retries) wait for its result and
end with the same session. The result is sealed with a key derived from the code, which the
store never sees, so the store holds no usable ticket.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

from app.errors import IdPError, LoginStateError
from app.oidc import OIDCClient
from app.oidc.client import new_secret
from app.sealing import seal, unseal
from app.sessions import SessionService
from app.store import Store
from app.tickets import Ticket
from app.types import LoginState

log = logging.getLogger("authgate.login")

CALLBACK_TTL = 120.0
WAIT_FOR_FIRST = 15.0
POLL = 0.05
MAX_STATE_LENGTH = 128


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def state_key(state: str) -> str:
    return f"ag:{{l:{_h(state)[:32]}}}:state"


def claim_key(state: str) -> str:
    return f"ag:{{l:{_h(state)[:32]}}}:cb"


def _code_key(code: str) -> bytes:
    return hashlib.sha256(b"authgate.callback:" + code.encode()).digest()


def _binding_key(binding: str) -> bytes:
    """Login state is sealed under a key only the browser's binding cookie yields."""
    return hashlib.sha256(b"authgate.login:" + binding.encode()).digest()


def _open(raw: bytes, state: str, binding: str) -> LoginState | None:
    if not binding:
        return None
    data = unseal(_binding_key(binding), state_key(state), raw)
    return LoginState.from_json(data) if data is not None else None


@dataclass(frozen=True, slots=True)
class Finished:
    ticket: Ticket
    original_url: str


class CallbackFailed(LoginStateError):
    """The first arrival of this callback failed; copies report the same failure."""


class LoginService:
    def __init__(self, store: Store, oidc: OIDCClient, sessions: SessionService, *, ttl: int) -> None:
        self.store = store
        self.oidc = oidc
        self.sessions = sessions
        self.ttl = ttl

    async def begin(self, *, original_url: str, redirect_uri: str, binding: str) -> str:
        """Store a new login state; return the IdP authorization URL to send the browser to."""
        await self.oidc.ensure_reachable()
        login = LoginState(
            state=new_secret(),
            nonce=new_secret(),
            code_verifier=new_secret(),
            redirect_uri=redirect_uri,
            original_url=original_url,
            browser=_h(binding),
            created_at=time.time(),
        )
        url = await self.oidc.authorization_url(
            redirect_uri=redirect_uri, state=login.state, nonce=login.nonce, code_verifier=login.code_verifier
        )
        sealed = seal(_binding_key(binding), state_key(login.state), login.to_json())
        await self.store.set(state_key(login.state), sealed, self.ttl)
        return url

    async def abandon(self, state: str, binding: str) -> str | None:
        """End a pending login (the IdP answered with an error); its original URL, for a retry link."""
        if not state or len(state) > MAX_STATE_LENGTH:
            return None
        raw = await self.store.getdel(state_key(state))
        login = _open(raw, state, binding) if raw else None
        return login.original_url if login else None

    async def finish(self, *, state: str, code: str, binding: str) -> Finished:
        if not state or not code or len(state) > MAX_STATE_LENGTH or len(code) > 2048:
            raise LoginStateError("the sign-in response is missing its state or code")
        browser = _h(binding) if binding else ""
        claim = claim_key(state)
        record = {"st": "pending", "c": _h(code), "b": browser}
        if not await self.store.set_nx(claim, json.dumps(record).encode(), CALLBACK_TTL):
            return await self._await_first(claim, code, browser)
        try:
            finished = await self._redeem(state, code, binding)
        except (LoginStateError, IdPError) as exc:
            failed = {**record, "st": "failed", "e": str(exc)}
            await self.store.set(claim, json.dumps(failed).encode(), CALLBACK_TTL)
            raise
        sealed = seal(_code_key(code), claim, {"t": _dump_ticket(finished.ticket), "o": finished.original_url})
        done = {**record, "st": "done", "r": sealed.hex()}
        await self.store.set(claim, json.dumps(done).encode(), CALLBACK_TTL)
        return finished

    async def _redeem(self, state: str, code: str, binding: str) -> Finished:
        raw = await self.store.getdel(state_key(state))
        if raw is None:
            raise LoginStateError("this sign-in link has expired or was already used")
        login = _open(raw, state, binding)
        if login is None or not hmac.compare_digest(login.browser, _h(binding)):
            raise LoginStateError("this sign-in was started in another browser (or its cookies were lost)")
        tokens = await self.oidc.redeem(
            code=code, redirect_uri=login.redirect_uri, code_verifier=login.code_verifier, nonce=login.nonce
        )
        ticket = await self.sessions.create(tokens)
        return Finished(ticket, login.original_url)

    async def _await_first(self, claim: str, code: str, browser: str) -> Finished:
        deadline = time.monotonic() + WAIT_FOR_FIRST
        while True:
            raw = await self.store.get(claim)
            if raw is None:
                raise LoginStateError("this sign-in link has expired or was already used")
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
                return Finished(_load_ticket(result["t"]), result["o"])
            if time.monotonic() > deadline:
                raise LoginStateError("the sign-in is taking too long; please retry")
            await asyncio.sleep(POLL)


def _dump_ticket(ticket: Ticket) -> list[str]:
    return [ticket.session_id, ticket.key.hex()]


def _load_ticket(value: list[str]) -> Ticket:
    return Ticket(value[0], bytes.fromhex(value[1]))
