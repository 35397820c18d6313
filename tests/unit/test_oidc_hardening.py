"""Hardening of the OIDC client found in review: claim errors told apart by type, azp for several
audiences, the subject of a refreshed ID token, typed and replay-checkable logout tokens, and a
reachability probe an anonymous client cannot multiply. The IdP is an httpx.MockTransport; tokens
are signed with joserfc in-process."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from authgate.errors import IdPUnavailable, TokenValidationError
from authgate.oidc import OIDCClient, discovery
from authgate.oidc.keys import validate_claims
from authgate.oidc.logout_tokens import BACKCHANNEL_LOGOUT_EVENT, LogoutToken

BASE = "https://idp.example.test"
ISSUER = f"{BASE}/realms/main"
CLIENT = "gate-client"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


def sign(claims: dict[str, Any], typ: str | None = "JWT") -> str:
    """An RS256 JWT; ``typ=None`` leaves ``typ`` out of the header (jwt.encode would add ``JWT``)."""
    header: dict[str, Any] = {"alg": "RS256", "kid": KEY.kid}
    if typ is None:
        return jws.serialize_compact(header, json.dumps(claims), KEY)
    return jwt.encode({**header, "typ": typ}, claims, KEY)


def id_claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "alice", "exp": now + 300, "iat": now, **over}
    return {k: v for k, v in claims.items() if v is not None}


def logout_claims(**over: Any) -> dict[str, Any]:
    """Claims of a good logout token; an override of None drops the claim."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "alice",
        "sid": "sid-1",
        "iat": now,
        "exp": now + 120,
        "jti": "jti-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        **over,
    }
    return {k: v for k, v in claims.items() if v is not None}


class FakeIdP:
    """Discovery, JWKS and a token endpoint; counts discovery requests; can be made to fail."""

    def __init__(self) -> None:
        self.discovery_requests = 0
        self.down = False
        self.refreshed_id_token: str | None = None
        self.sends_iss = False  # advertises authorization_response_iss_parameter_supported (RFC 9207)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            self.discovery_requests += 1
            await asyncio.sleep(0.01)  # slow enough that concurrent callers overlap
            if self.down:
                return httpx.Response(503)
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{BASE}/auth",
                    "token_endpoint": f"{BASE}/token",
                    "jwks_uri": f"{BASE}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    **({"authorization_response_iss_parameter_supported": True} if self.sends_iss else {}),
                },
            )
        if url == f"{BASE}/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if url == f"{BASE}/token":
            body: dict[str, Any] = {"access_token": "at", "token_type": "Bearer", "expires_in": 300}
            if self.refreshed_id_token is not None:
                body["id_token"] = self.refreshed_id_token
            return httpx.Response(200, json=body)
        return httpx.Response(404)


def make_client(idp: FakeIdP) -> OIDCClient:
    return OIDCClient(
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret="client-secret-0123456789abcdef0123456789",
        scopes=["openid"],
        transport=httpx.MockTransport(idp.handle),
    )


class Clock:
    """Stands in for the ``time`` module inside authgate.oidc.client only (the event loop keeps the real one)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


# -- 1. claim errors are told apart by type and claim, not by searching the message -------------


@pytest.mark.parametrize(
    ("over", "message"),
    [
        # "Missing" contains "iss": this one used to be reported as an issuer mismatch.
        ({"exp": None}, "missing claim 'exp'"),
        ({"sub": None}, "missing claim 'sub'"),
        ({"iss": None}, "missing claim 'iss'"),
        ({"exp": None, "sub": None}, "missing claims 'exp', 'sub'"),
        ({"iss": f"{BASE}/realms/other"}, "issuer mismatch"),
        ({"exp": int(time.time()) - 3600}, "token expired"),
        ({"aud": "someone-else"}, "invalid claim 'aud'"),
        ({"iat": int(time.time()) + 3600}, "invalid claim 'iat': The token was issued in the future"),
    ],
)
def test_claim_errors_name_the_claim(over: dict[str, Any], message: str) -> None:
    with pytest.raises(TokenValidationError) as caught:
        validate_claims(id_claims(**over), issuer=ISSUER, audience=CLIENT, nonce=None)
    assert str(caught.value).startswith(message)
    if "iss" not in over:
        assert "issuer mismatch" not in str(caught.value)


# -- 2. azp ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aud", "azp", "accepted"),
    [
        (CLIENT, None, True),
        ([CLIENT], None, True),
        ([CLIENT, "api"], CLIENT, True),
        (CLIENT, CLIENT, True),
        ([CLIENT, "api"], None, False),  # several audiences: azp must say the token is ours
        ([CLIENT, "api"], "api", False),
        (CLIENT, "api", False),  # present azp must name us even with one audience
        ([CLIENT], "api", False),
    ],
)
def test_azp(aud: Any, azp: str | None, accepted: bool) -> None:
    claims = id_claims(aud=aud, azp=azp)
    if accepted:
        validate_claims(claims, issuer=ISSUER, audience=CLIENT, nonce=None)
    else:
        with pytest.raises(TokenValidationError, match="azp"):
            validate_claims(claims, issuer=ISSUER, audience=CLIENT, nonce=None)


# -- 3. a refreshed ID token must be about the session's subject ----------------------------------


def test_refresh_requires_the_sessions_subject() -> None:
    param = inspect.signature(OIDCClient.refresh).parameters["sub"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is inspect.Parameter.empty


@pytest.mark.parametrize(
    ("token_sub", "accepted"),
    [("alice", True), ("mallory", False), (None, True)],  # None: no ID token in the refresh response
)
async def test_refresh_checks_the_subject(token_sub: str | None, accepted: bool) -> None:
    idp = FakeIdP()
    idp.refreshed_id_token = None if token_sub is None else sign(id_claims(sub=token_sub))
    oidc = make_client(idp)
    try:
        if accepted:
            tokens = await oidc.refresh("rt", sub="alice")
            assert tokens.claims == {} if token_sub is None else tokens.claims["sub"] == "alice"
        else:
            with pytest.raises(TokenValidationError, match="the refreshed ID token names another subject"):
                await oidc.refresh("rt", sub="alice")
    finally:
        await oidc.aclose()


# -- 4. back-channel logout tokens -----------------------------------------------------------------


@pytest.mark.parametrize("typ", ["logout+jwt", "application/logout+jwt", "Logout+JWT", None])
async def test_logout_token_is_returned_for_replay_checks(typ: str | None) -> None:
    claims = logout_claims()
    oidc = make_client(FakeIdP())
    try:
        got = await oidc.validate_logout_token(sign(claims, typ))
    finally:
        await oidc.aclose()
    assert got == LogoutToken(sid="sid-1", sub="alice", jti="jti-1", expires_at=float(claims["exp"]))


async def test_logout_token_without_exp_lives_ten_minutes_from_iat() -> None:
    claims = logout_claims(exp=None, sid=None)  # used to fail as an "issuer mismatch"
    oidc = make_client(FakeIdP())
    try:
        got = await oidc.validate_logout_token(sign(claims, "logout+jwt"))
    finally:
        await oidc.aclose()
    assert got == LogoutToken(sid="", sub="alice", jti="jti-1", expires_at=claims["iat"] + 600.0)


@pytest.mark.parametrize(
    ("typ", "over", "message"),
    [
        ("JWT", {}, "not a logout token"),  # a JWT of another kind, such as an ID token
        ("at+jwt", {}, "not a logout token"),
        ("application/jwt", {}, "not a logout token"),
        ("", {}, "not a logout token"),
        ("JWT", {"events": None, "nonce": "n"}, "not a logout token"),  # an ID token, header checked first
        ("logout+jwt", {"jti": None}, "missing claim 'jti'"),
        ("logout+jwt", {"jti": ""}, "invalid claim 'jti'"),
        ("logout+jwt", {"jti": 42}, "invalid claim 'jti'"),
        ("logout+jwt", {"iat": None}, "missing claim 'iat'"),
        ("logout+jwt", {"events": None}, "back-channel logout event"),
        ("logout+jwt", {"nonce": "n"}, "nonce"),
        ("logout+jwt", {"sid": None, "sub": None}, "neither sid nor sub"),
        ("logout+jwt", {"iss": f"{BASE}/realms/other"}, "issuer mismatch"),
        ("logout+jwt", {"iat": int(time.time()) - 3600, "exp": None}, "too old"),
    ],
)
async def test_logout_token_is_refused(typ: str, over: dict[str, Any], message: str) -> None:
    oidc = make_client(FakeIdP())
    try:
        with pytest.raises(TokenValidationError, match=message):
            await oidc.validate_logout_token(sign(logout_claims(**over), typ))
    finally:
        await oidc.aclose()


# -- 5. the reachability probe is shared ------------------------------------------------------------


async def test_concurrent_sign_in_starts_share_one_probe() -> None:
    idp = FakeIdP()
    oidc = make_client(idp)
    try:
        await asyncio.gather(*(oidc.ensure_reachable() for _ in range(300)))
        # One discovery for the metadata, one probe: not one per sign-in start.
        assert idp.discovery_requests <= 2
    finally:
        await oidc.aclose()


@dataclass
class Clocked:
    clock: Clock
    idp: FakeIdP
    oidc: OIDCClient


@pytest.fixture
async def clocked(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Clocked]:
    """A client whose discovery reads a clock the test moves by hand."""
    clock = Clock()
    monkeypatch.setattr(discovery, "time", clock)
    idp = FakeIdP()
    oidc = make_client(idp)
    try:
        yield Clocked(clock, idp, oidc)
    finally:
        await oidc.aclose()


async def test_a_probe_is_reused_for_probe_reuse_seconds(clocked: Clocked) -> None:
    clock, idp, oidc = clocked.clock, clocked.idp, clocked.oidc
    await oidc.ensure_reachable()
    asked = idp.discovery_requests
    clock.now += discovery.PROBE_REUSE - 0.1
    await oidc.ensure_reachable()
    assert idp.discovery_requests == asked
    clock.now += 0.2
    await oidc.ensure_reachable()
    assert idp.discovery_requests == asked + 1


async def test_a_failing_idp_is_asked_once_per_metadata_retry(clocked: Clocked) -> None:
    clock, idp, oidc = clocked.clock, clocked.idp, clocked.oidc
    await oidc.metadata()  # the metadata is cached; then the IdP goes down
    idp.down = True
    clock.now += discovery.PROBE_REUSE + 1
    asked = idp.discovery_requests
    results = await asyncio.gather(*(oidc.ensure_reachable() for _ in range(300)), return_exceptions=True)
    assert all(isinstance(r, IdPUnavailable) for r in results)
    assert idp.discovery_requests == asked + 1
    clock.now += discovery.METADATA_RETRY - 0.1
    with pytest.raises(IdPUnavailable, match="503"):
        await oidc.ensure_reachable()  # the remembered failure, without asking the IdP
    assert idp.discovery_requests == asked + 1
    clock.now += 0.2
    idp.down = False
    await oidc.ensure_reachable()  # retried once the window is over, and the IdP is back
    assert idp.discovery_requests == asked + 2


# -- RFC 9207: the authorization response's iss ---------------------------------------------------


@pytest.mark.parametrize(
    ("sends_iss", "iss", "refused"),
    [
        (False, None, None),  # an IdP that does not send it (Authentik): nothing to check
        (False, ISSUER, None),
        (True, ISSUER, None),
        (False, "https://other-idp.test", "another issuer"),  # a mix-up
        (True, ISSUER + "/", "another issuer"),  # compared exactly (RFC 9207 2.4)
        (True, None, "has no iss"),  # stripped from a response of an IdP that always sends it
    ],
)
async def test_the_callbacks_iss_must_name_the_clients_issuer(
    sends_iss: bool, iss: str | None, refused: str | None
) -> None:
    idp = FakeIdP()
    idp.sends_iss = sends_iss
    client = make_client(idp)
    try:
        if refused is None:
            await client.check_response_issuer(iss)
        else:
            with pytest.raises(TokenValidationError, match=refused):
                await client.check_response_issuer(iss)
    finally:
        await client.aclose()
