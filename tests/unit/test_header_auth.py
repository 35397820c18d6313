"""Header auth without servers: the bearer JWT table (hostile tokens), the Authorization header's
parsing, and the Basic exchange's memory and lockout against an in-process IdP (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from authgate.access.api_clients import FAILURE_LIMIT, MAX_AUTHORIZATION, HeaderAuth, HeaderAuthConfig, scheme_of
from authgate.errors import CredentialsRefused
from authgate.oidc import OIDCClient
from authgate.oidc.clients import lane
from authgate.store import MemoryStore
from authgate.store.keys import failure_key

ISS = "https://idp.test"
CLIENT = "authgate-client"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})
PASSWORDS = {"svc": "right-app-password"}


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISS, "aud": CLIENT, "azp": CLIENT, "sub": "u1", "exp": now + 300, "iat": now}
    base.update({"preferred_username": "svc", "groups": ["api"]})
    return {k: v for k, v in {**base, **over}.items() if v is not None}


def signed(key: RSAKey = KEY, header: dict[str, Any] | None = None, **over: Any) -> str:
    return jwt.encode(header or {"alg": "RS256", "kid": key.kid}, claims(**over), key)


def hs256_with_public_key() -> str:
    """Algorithm confusion: HS256 keyed with the IdP's public key (which anyone can fetch)."""
    head = b64({"alg": "HS256", "kid": "k1"}) + "." + b64(claims())
    secret = json.dumps(KEY.as_dict(private=False)).encode()
    mac = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class IdP:
    """Discovery, JWKS and a token endpoint that knows app passwords: just enough of an IdP."""

    def __init__(self) -> None:
        self.exchanges = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISS,
                    "authorization_endpoint": f"{ISS}/auth",
                    "token_endpoint": f"{ISS}/token",
                    "jwks_uri": f"{ISS}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256", "HS256"],
                },
            )
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if path == "/token":
            self.exchanges += 1
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            if form.get("grant_type") != "client_credentials" or PASSWORDS.get(form.get("username", "")) != form.get(
                "password"
            ):
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"access_token": signed(), "id_token": signed(), "expires_in": 300})
        return httpx.Response(404)


@pytest.fixture
async def world() -> AsyncIterator[tuple[HeaderAuth, IdP, MemoryStore]]:
    idp = IdP()
    oidc = OIDCClient(
        issuer=ISS, client_id=CLIENT, client_secret="s" * 40, scopes=["openid"], transport=httpx.MockTransport(idp)
    )
    store = MemoryStore()
    config = HeaderAuthConfig(frozenset({"bearer", "basic"}), frozenset({CLIENT, "reporting-tool"}), oidc)
    yield HeaderAuth(config, store), idp, store
    await oidc.aclose()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_a_bearer_jwt_of_the_idp_for_this_client_is_accepted(world: Any) -> None:
    auth, _, _ = world
    who = await auth.authenticate("bearer", "Bearer " + signed())
    assert (who.identity.username, who.identity.groups) == ("svc", ("api",))
    allowed = await auth.authenticate("bearer", "Bearer " + signed(aud="reporting-tool", azp="reporting-tool"))
    assert allowed.identity.sub == "u1"  # an audience of AUTHGATE_HEADER_AUTH_AUDIENCES


def now() -> int:
    return int(time.time())


AUTHENTIK_ACR = "goauthentik.io/providers/oauth2/default"


# Each token is made when its test runs, not when the tests are collected: a whole run can take
# longer than a token's five minutes.
@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: signed(iss="https://evil.test"), "issuer"),
        (lambda: signed(exp=now() - 3600), "expired"),
        (lambda: signed(nbf=now() + 3600), "nbf"),
        (lambda: signed(aud="another-client", azp="another-client"), "audience"),
        (lambda: signed(azp="another-client"), "azp"),
        (lambda: signed(aud=[CLIENT, "x"], azp=None), "several audiences"),
        (lambda: signed(exp=None), "exp"),
        (lambda: signed(sub=None), "sub"),
        (lambda: signed(events={"http://schemas.openid.net/event/backchannel-logout": {}}), "logout"),
        (lambda: signed(header={"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}), "logout"),
        (lambda: b64({"alg": "none"}) + "." + b64(claims()) + ".", "'none'"),
        (hs256_with_public_key, "'HS256'"),
        (lambda: signed(OTHER_KEY), "unknown key id"),
        (lambda: signed(OTHER_KEY, header={"alg": "RS256", "kid": "k1"}), "bad signature"),
        (lambda: "garbage", "not a signed JWT"),
        (lambda: "a.b.c", "malformed"),
        (lambda: "2YotnFZFEjr1zCsicMWpAA", "not a signed JWT"),  # an opaque token: refused, never introspected
        # ID tokens (the id_token_hint of a sign-out URL): a bearer is an access token.
        (lambda: signed(at_hash="x", nonce="n"), "carries at_hash"),  # OIDC Core: a code flow's ID token
        (lambda: signed(c_hash="x"), "carries c_hash"),
        (lambda: signed(s_hash="x"), "carries s_hash"),
        (lambda: signed(azp=None, nonce="n", sid="s"), "nothing says it is one"),  # Authentik's, from a sign-in
        (lambda: signed(azp=None, auth_time=now(), acr=AUTHENTIK_ACR), "nothing says"),  # Authentik's, after a refresh
        (lambda: signed(typ="ID", nonce="n"), "typ claim"),  # Keycloak's: azp and nonce, but typ ID
    ],
)
async def test_hostile_bearer_tokens_are_refused(world: Any, make: Callable[[], str], why: str) -> None:
    auth, idp, _ = world
    with pytest.raises(CredentialsRefused) as refused:
        await auth.authenticate("bearer", "Bearer " + make())
    assert why in refused.value.reason
    assert idp.exchanges == 0


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        # Authentik's access token: the ID token's claims (its sign-in nonce too) plus azp and uid.
        (lambda: signed(nonce="n", sid="s", uid="u", auth_time=now(), acr=AUTHENTIK_ACR), "Authentik"),
        (lambda: signed(azp=None, client_id=CLIENT, scope="openid"), "RFC 9068"),
        (lambda: signed(header={"alg": "RS256", "kid": "k1", "typ": "at+jwt"}, azp=None, client_id=CLIENT), "at+jwt"),
        (lambda: signed(azp=None, cid=CLIENT, scp=["openid"]), "Okta"),
        (lambda: signed(typ="Bearer", nonce="n"), "Keycloak"),
    ],
)
async def test_access_tokens_of_the_idps_we_support_pass(world: Any, make: Callable[[], str], kind: str) -> None:
    auth, _, _ = world
    assert (await auth.authenticate("bearer", "Bearer " + make())).identity.sub == "u1", kind


@pytest.mark.parametrize(
    ("header", "modes", "scheme"),
    [
        ("Bearer x", {"bearer"}, "bearer"),
        ("bearer x", {"bearer"}, "bearer"),
        ("Basic x", {"bearer"}, None),  # not enabled: the request is checked as any other
        ("Basic x", {"basic"}, "basic"),
        ("Bearerx y", {"bearer"}, None),
        ("Digest x", {"bearer", "basic"}, None),
        ("", {"bearer", "basic"}, None),
    ],
)
def test_scheme_of(header: str, modes: set[str], scheme: str | None) -> None:
    assert scheme_of(header, modes) == scheme


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "a" * MAX_AUTHORIZATION,  # oversized: refused unread
        "Bearer   ",
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":password-only").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        basic("u" * 300, "x"),
    ],
)
async def test_malformed_headers_are_refused_without_asking_the_idp(world: Any, header: str) -> None:
    auth, idp, _ = world
    with pytest.raises(CredentialsRefused):
        await auth.authenticate(header.split(" ", maxsplit=1)[0].lower(), header)
    assert idp.exchanges == 0


async def test_basic_is_exchanged_once_then_remembered(world: Any) -> None:
    auth, idp, _ = world
    for _ in range(3):
        who = await auth.authenticate("basic", basic("svc", "right-app-password"))
        assert who.identity.username == "svc"
    assert idp.exchanges == 1


async def test_a_refused_password_is_remembered_and_counted(world: Any) -> None:
    auth, idp, store = world
    for _ in range(3):
        with pytest.raises(CredentialsRefused):
            await auth.authenticate("basic", basic("svc", "wrong"))
    assert idp.exchanges == 1  # the same wrong password: answered from memory
    assert await store.get(failure_key(lane(auth.config.oidc), "svc")) == b"1"


async def test_too_many_refused_passwords_lock_the_username_out(world: Any) -> None:
    auth, idp, _ = world
    await auth.authenticate("basic", basic("svc", "right-app-password"))  # accepted before the attack
    for i in range(FAILURE_LIMIT):
        with pytest.raises(CredentialsRefused):
            await auth.authenticate("basic", basic("svc", f"guess-{i}"))
    asked = idp.exchanges
    with pytest.raises(CredentialsRefused) as refused:
        await auth.authenticate("basic", basic("SVC", "guess-next"))  # any case of the name: same count
    assert "too many" in refused.value.reason
    assert idp.exchanges == asked  # the IdP is not asked any more
    # The password accepted earlier still works (it is not being guessed).
    assert (await auth.authenticate("basic", basic("svc", "right-app-password"))).identity.sub == "u1"


async def test_concurrent_guesses_cannot_overshoot_the_limit(world: Any) -> None:
    auth, idp, _ = world

    async def guess(i: int) -> None:
        with pytest.raises(CredentialsRefused):
            await auth.authenticate("basic", basic("svc", f"parallel-guess-{i}"))

    await asyncio.gather(*(guess(i) for i in range(3 * FAILURE_LIMIT)))
    assert idp.exchanges == FAILURE_LIMIT  # one exchange at a time per username, each counted first
