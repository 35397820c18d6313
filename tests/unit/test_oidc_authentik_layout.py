"""The OIDC client against Authentik's URL layout (no Authentik runs here: its discovery document's
shape, served through an injected httpx transport). Per-app issuer with a trailing slash, shared
authorize/token/userinfo endpoints, per-app JWKS; RS256 and, with no signing key, HS256."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from authgate.cli.check_idp import probe_client
from authgate.errors import IdPRejected, TokenValidationError
from authgate.oidc import OIDCClient

BASE = "https://auth.example.test"
ISSUER = f"{BASE}/application/o/grafana/"
SECRET = "authentik-generated-client-secret-0123456789"
KEY = RSAKey.generate_key(2048, parameters={"kid": "authentik-kid", "alg": "RS256", "use": "sig"})


class FakeAuthentik:
    def __init__(self, alg: str = "RS256") -> None:
        self.alg = alg
        self.seen: list[str] = []
        self.nonce = ""

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{BASE}/application/o/authorize/",
            "token_endpoint": f"{BASE}/application/o/token/",
            "userinfo_endpoint": f"{BASE}/application/o/userinfo/",
            "end_session_endpoint": f"{BASE}/application/o/grafana/end-session/",
            "jwks_uri": f"{BASE}/application/o/grafana/jwks/",
            "id_token_signing_alg_values_supported": [self.alg],
            "code_challenge_methods_supported": ["plain", "S256"],
            "scopes_supported": ["openid", "email", "profile", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def id_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": "grafana-client",
            "sub": "hash-of-alice",
            "exp": now + 300,
            "iat": now,
            "nonce": self.nonce,
            "preferred_username": "alice",
            "email": "alice@example.test",
            "name": "Alice",
            "groups": ["authentik Admins"],
            "sid": "authentik-session",
        }
        if self.alg == "HS256":
            return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET))
        return jwt.encode({"alg": "RS256", "kid": KEY.kid}, claims, KEY)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url).split("?")[0]
        self.seen.append(url)
        if url == f"{ISSUER}.well-known/openid-configuration":
            return httpx.Response(200, json=self.metadata())
        if url == f"{BASE}/application/o/grafana/jwks/":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if url == f"{BASE}/application/o/token/":
            basic = request.headers.get("authorization", "")
            user, _, password = base64.b64decode(basic.removeprefix("Basic ")).decode().partition(":")
            if (user, password) != ("grafana-client", SECRET):
                return httpx.Response(400, json={"error": "invalid_client"})
            form = parse_qs(request.content.decode())
            if form["code"] != ["good-code"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(
                200,
                json={
                    "access_token": "at",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "refresh_token": "rt",
                    "id_token": self.id_token(),
                },
            )
        return httpx.Response(404, text="not found")


def client(idp: FakeAuthentik, secret: str = SECRET) -> OIDCClient:
    return OIDCClient(
        issuer=ISSUER,
        client_id="grafana-client",
        client_secret=secret,
        scopes=["openid", "email", "profile", "offline_access"],
        transport=httpx.MockTransport(idp.handle),
    )


@pytest.mark.parametrize("alg", ["RS256", "HS256"])
async def test_sign_in_with_authentiks_layout(alg: str) -> None:
    idp = FakeAuthentik(alg)
    oidc = client(idp)
    url = await oidc.authorization_url(
        redirect_uri="https://grafana.example.test/outpost.goauthentik.io/callback",
        state="s",
        nonce="n-1",
        code_verifier="v" * 43,
    )
    assert url.startswith(f"{BASE}/application/o/authorize/?")
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["grafana-client"]
    assert idp.seen[0] == f"{ISSUER}.well-known/openid-configuration"
    idp.nonce = "n-1"
    tokens = await oidc.redeem(
        code="good-code", redirect_uri="https://grafana.example.test/x", code_verifier="v" * 43, nonce="n-1"
    )
    assert tokens.claims["preferred_username"] == "alice" and tokens.claims["groups"] == ["authentik Admins"]
    assert tokens.refresh_token == "rt"
    end = await oidc.end_session_url(id_token=tokens.id_token, post_logout_redirect_uri="https://grafana.example.test/")
    assert end is not None and end.startswith(f"{BASE}/application/o/grafana/end-session/?")
    await oidc.aclose()


async def test_authentik_errors_are_told_apart() -> None:
    idp = FakeAuthentik()
    with pytest.raises(IdPRejected) as bad_code:
        await client(idp).redeem(code="used-code", redirect_uri="x", code_verifier="v" * 43, nonce="n")
    assert bad_code.value.error == "invalid_grant"
    assert await probe_client(client(idp, secret="wrong"), "https://x.example.test/cb") == "invalid_client"
    assert await probe_client(client(idp), "https://x.example.test/cb") == "invalid_grant"


async def test_a_replayed_nonce_is_refused() -> None:
    idp = FakeAuthentik()
    idp.nonce = "someone-elses"
    with pytest.raises(TokenValidationError, match="nonce"):
        await client(idp).redeem(code="good-code", redirect_uri="x", code_verifier="v" * 43, nonce="mine")


def test_discovery_document_shape_is_json() -> None:
    assert json.loads(json.dumps(FakeAuthentik().metadata()))["issuer"].endswith("/grafana/")
