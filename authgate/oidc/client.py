"""The OIDC relying party: authorization URL, code redemption, refresh, logout tokens.

Discovery (typed metadata, the reachability probe) is authgate/oidc/discovery.py; the probes of
``authgate check`` are in authgate/cli/check.py, through this client's ``token_request`` and ``http``.

Errors are translated here: network trouble and 5xx become ``IdPUnavailable``, OAuth errors
``IdPRejected``, token problems ``TokenValidationError``.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from authgate.errors import IdPRejected, IdPUnavailable, TokenValidationError
from authgate.model import TokenSet
from authgate.oidc.discovery import Discovery, ProviderMetadata
from authgate.oidc.keys import ASYMMETRIC_ALGS, KeyCache, validate_claims
from authgate.oidc.logout_tokens import LogoutToken, check_logout_type, logout_token_of
from authgate.oidc.transport import BackchannelTransport, TimedClient, call


def new_secret() -> str:
    """A random URL-safe value for state, nonce and PKCE verifiers (256 bits)."""
    token: str = generate_token(43)
    return token


class OIDCClient:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: list[str],
        prompt: str = "",
        backchannel_url: str = "",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self.prompt = prompt  # OIDC `prompt`, e.g. "consent" (offline_access at a strict IdP); "": none
        if backchannel_url:
            transport = BackchannelTransport(issuer, backchannel_url, transport)
        #: Every call to the IdP goes through this client (``authgate check`` probes with it too).
        self.http = TimedClient(
            transport=transport, timeout=timeout, follow_redirects=False, headers={"User-Agent": "authgate"}
        )
        self.discovery = Discovery(issuer, self.http)
        self.keys = KeyCache(self._fetch_jwks, client_secret)

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- discovery ---------------------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        return await self.discovery.metadata()

    async def ensure_reachable(self) -> None:
        await self.discovery.ensure_reachable()

    async def _fetch_jwks(self) -> dict[str, Any]:
        meta = await self.metadata()
        return await self.discovery.get_json(meta.jwks_uri, "jwks")

    def _algorithms(self, meta: ProviderMetadata) -> list[str]:
        algs = meta.id_token_signing_alg_values_supported or ["RS256"]
        allowed = [a for a in algs if a in ASYMMETRIC_ALGS or a in ("HS256", "HS384", "HS512")]
        return allowed or ["RS256"]

    # -- the code flow ------------------------------------------------------------------------

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        meta = await self.metadata()
        url: str = prepare_grant_uri(
            meta.authorization_endpoint,
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(self.scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
            **({"prompt": self.prompt} if self.prompt else {}),
        )
        return url

    async def token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """POST ``form`` to the token endpoint with the client's credentials; the JSON answer.

        ``IdPRejected`` for an OAuth error, ``IdPUnavailable`` when the IdP cannot answer."""
        meta = await self.metadata()
        methods = meta.token_endpoint_auth_methods_supported or ["client_secret_basic"]
        headers = {"Accept": "application/json"}
        if "client_secret_basic" in methods or "client_secret_post" not in methods:
            creds = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        else:
            form = {**form, "client_id": self.client_id, "client_secret": self._secret}
        try:
            name = "refresh" if form.get("grant_type") == "refresh_token" else "token"
            resp = await self.http.post(meta.token_endpoint, data=form, headers=headers, extensions=call(name))
        except httpx.HTTPError as exc:
            self.discovery.unreachable()
            raise IdPUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from exc
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise IdPUnavailable(f"token endpoint answered {resp.status_code} without JSON")
        if resp.status_code >= 500:
            raise IdPUnavailable(f"token endpoint answered {resp.status_code}")
        if resp.status_code >= 400 or "error" in data:
            raise IdPRejected(
                str(data.get("error") or f"http_{resp.status_code}"), str(data.get("error_description") or "")
            )
        if not isinstance(data.get("access_token"), str):
            raise IdPRejected("invalid_response", "no access_token in the token response")
        return data

    async def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: a sign-in response's ``iss``, when the IdP sends one (or says it always does), is
        this client's issuer: another IdP's code (a mix-up of two IdPs' sign-ins) is not redeemed."""
        if iss is None:
            if (await self.metadata()).raw.get("authorization_response_iss_parameter_supported") is True:
                raise TokenValidationError("the sign-in response has no iss, which this IdP always sends (RFC 9207)")
        elif iss != self.issuer:
            raise TokenValidationError(
                f"the sign-in response came from another issuer (RFC 9207): {iss[:200]!r}, expected {self.issuer!r}"
            )

    async def redeem(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str) -> TokenSet:
        """Exchange an authorization code; validate the ID token; fill claims from userinfo."""
        data = await self.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        id_token = data.get("id_token")
        if not isinstance(id_token, str):
            raise TokenValidationError("the token response has no id_token (is the `openid` scope allowed?)")
        claims = await self.validate_id_token(id_token, nonce=nonce)
        claims = await self._with_userinfo(claims, data["access_token"])
        return _token_set(data, id_token, claims)

    async def refresh(self, refresh_token: str, *, sub: str) -> TokenSet:
        """Redeem a refresh token of the session of subject ``sub``. The IdP may rotate it; the new
        one is in the result."""
        data = await self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        raw_id_token = data.get("id_token")
        id_token = raw_id_token if isinstance(raw_id_token, str) else ""
        claims: dict[str, Any] = {}
        if id_token:
            claims = await self.validate_id_token(id_token, nonce=None, check_exp=False)
            # OIDC Core 12.2: the session must not quietly become someone else's.
            if claims.get("sub") != sub:
                raise TokenValidationError("the refreshed ID token names another subject")
        return _token_set(data, id_token, claims)

    async def validate_id_token(self, id_token: str, *, nonce: str | None, check_exp: bool = True) -> dict[str, Any]:
        meta = await self.metadata()
        claims = await self.keys.decode(id_token, self._algorithms(meta))
        validate_claims(
            claims,
            issuer=self.issuer,
            audience=self.client_id,
            nonce=nonce,
            now=None if check_exp else float(claims.get("iat", time.time())),
        )
        return claims

    async def _with_userinfo(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        meta = await self.metadata()
        endpoint = meta.userinfo_endpoint
        wanted = ("email", "preferred_username", "name", "groups")
        if not endpoint or all(k in claims for k in wanted):
            return claims
        info = await self.discovery.get_json(endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != claims.get("sub"):
            raise TokenValidationError("userinfo answered for a different subject")
        return {**info, **{k: v for k, v in claims.items() if k not in info or k in ("iss", "aud", "sub")}}

    # -- logout -------------------------------------------------------------------------------

    async def end_session_url(self, *, id_token: str, post_logout_redirect_uri: str, state: str = "") -> str | None:
        """RP-initiated logout URL at the IdP, or None when it has no end_session_endpoint. The IdP
        hands ``state`` back to ``post_logout_redirect_uri``."""
        try:
            meta = await self.metadata()
        except IdPUnavailable:
            return None
        endpoint = meta.end_session_endpoint
        if endpoint is None:
            return None
        params = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:
            params["id_token_hint"] = id_token
        if state:
            params["state"] = state
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    async def validate_logout_token(self, token: str) -> LogoutToken:
        """OIDC Back-Channel Logout 1.0 section 2.6: signed by this IdP for this client, then the
        token's own rules (authgate/oidc/logout_tokens.py)."""
        meta = await self.metadata()
        claims, header = await self.keys.decode_with_header(token, self._algorithms(meta))
        check_logout_type(header.get("typ"))
        # exp is not required: IdPs written to the spec's drafts omit it; iat bounds the age instead.
        validate_claims(claims, issuer=self.issuer, audience=self.client_id, nonce=None, required=("iat", "jti"))
        return logout_token_of(claims)


def _token_set(data: dict[str, Any], id_token: str, claims: dict[str, Any]) -> TokenSet:
    expires_in = data.get("expires_in")
    try:
        lifetime = float(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        lifetime = None
    refresh = data.get("refresh_token")
    return TokenSet(
        access_token=data["access_token"],
        id_token=id_token,
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_in=lifetime,
        claims=claims,
    )
