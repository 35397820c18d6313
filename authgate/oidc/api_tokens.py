"""Tokens of API clients (header auth): bearer JWTs checked against the IdP's keys, and the
username + app password exchange at the token endpoint (Authentik's machine-to-machine flow).

Only asymmetric signatures are accepted for bearer tokens: an HMAC-signed one could be minted by
anyone who holds the client secret, and a public key must never pass for an HMAC secret. Errors:
``TokenValidationError`` (the token is not good), ``IdPRejected`` (the IdP refused the password),
``IdPUnavailable`` (the IdP cannot answer).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from authgate.errors import TokenValidationError
from authgate.oidc.client import OIDCClient
from authgate.oidc.keys import ASYMMETRIC_ALGS, check_registered

#: Claims of tokens that are not access tokens, whatever their audience: a back-channel logout token.
_NOT_ACCESS = ("events",)
#: Claims only an ID token carries (OpenID Connect Core 3.1.3.6, 3.3.2.11): the hashes binding it to
#: the access token, code and state it came with.
_ID_TOKEN_ONLY = ("at_hash", "c_hash", "s_hash")
#: Claims that say a JWT is an access token: RFC 9068's ``client_id``; ``azp``, which Authentik adds
#: to its access tokens and never puts in its ID tokens (which are otherwise the same claims, the
#: sign-in's ``nonce`` included: ``IDToken.to_access_token``), and Keycloak too; Okta's ``cid``; a
#: granted ``scope`` / ``scp``, which no ID token carries.
_ACCESS_MARKS = ("client_id", "azp", "cid", "scope", "scp")
#: ``typ`` headers of access tokens (RFC 9068).
_ACCESS_TYPES = ("at+jwt", "application/at+jwt")


@dataclass(frozen=True, slots=True)
class APIToken:
    """A validated token of an API client: its claims, and until when they may be trusted."""

    claims: dict[str, Any]
    access_token: str
    expires_at: float  # unix seconds


def validate_access_claims(
    claims: dict[str, Any], *, issuer: str, audiences: Collection[str], now: float | None = None
) -> None:
    """``iss`` exact; ``exp`` and ``sub`` present, ``exp``, ``nbf`` and ``iat`` valid (with leeway);
    ``aud`` naming one of ``audiences``, and ``azp``, when present, one of them too (a token a
    different client asked for, even for a shared audience, is that client's)."""
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }
    check_registered(claims, options, issuer=issuer, now=now)
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise TokenValidationError(f"the token is for another audience: {aud!r}")
    azp = claims.get("azp")
    if azp is None and len(named) > 1:
        raise TokenValidationError("the token names several audiences but no azp")
    if azp is not None and azp not in audiences:
        raise TokenValidationError(f"azp names another client: {azp!r}")
    if any(name in claims for name in _NOT_ACCESS):
        raise TokenValidationError("not an access token (a logout token)")


async def verify_bearer(client: OIDCClient, token: str, audiences: Collection[str]) -> APIToken:
    """A bearer JWT signed by the IdP (JWKS, asymmetric algorithms only), for one of ``audiences``."""
    if token.count(".") != 2:
        raise TokenValidationError("not a signed JWT")  # opaque: refused without a word to the IdP
    meta = await client.metadata()
    advertised = meta.id_token_signing_alg_values_supported or ("RS256",)
    algorithms = [a for a in advertised if a in ASYMMETRIC_ALGS] or ["RS256"]
    claims, header = await client.keys.decode_with_header(token, algorithms)
    typ = header.get("typ")
    if isinstance(typ, str) and "logout" in typ.lower():
        raise TokenValidationError(f"not an access token: its typ is {typ!r}")
    validate_access_claims(claims, issuer=client.issuer, audiences=audiences)
    if not (isinstance(typ, str) and typ.lower() in _ACCESS_TYPES):
        refuse_id_token(claims)
    return APIToken(claims, token, float(claims["exp"]))


def refuse_id_token(claims: dict[str, Any]) -> None:
    """Raise TokenValidationError for an ID token: a bearer is an access token. An ID token travels
    where an access token never does (the ``id_token_hint`` of a sign-out URL, a page's JavaScript),
    so one presented as a bearer must not open an API. ``nonce`` alone does not tell them apart:
    Authentik's access tokens from a browser sign-in carry it too."""
    carried = next((name for name in _ID_TOKEN_ONLY if name in claims), None)
    if carried is not None:
        raise TokenValidationError(f"not an access token: an ID token (it carries {carried})")
    if str(claims.get("typ", "")).lower() == "id":  # Keycloak's ID tokens say so
        raise TokenValidationError("not an access token: an ID token (its typ claim is 'ID')")
    if not any(name in claims for name in _ACCESS_MARKS):
        raise TokenValidationError(
            "not an access token: nothing says it is one (no client_id, azp, cid, scope or scp): an ID token"
        )


async def exchange_password(client: OIDCClient, username: str, password: str, audiences: Collection[str]) -> APIToken:
    """Authentik's machine-to-machine sign-in: ``grant_type=client_credentials`` with the user's
    ``username`` and an app password as ``password``, the client authenticating as for any token
    request. The answer's ID token (its access token when there is none) says who it is."""
    scopes = " ".join(s for s in client.scopes if s != "offline_access")
    form = {"grant_type": "client_credentials", "username": username, "password": password, "scope": scopes}
    data = await client.token_request(form)
    access_token: str = data["access_token"]  # token_request checked it is a string
    id_token = data.get("id_token")
    if isinstance(id_token, str) and id_token:
        claims = await client.validate_id_token(id_token, nonce=None)
        token = APIToken(claims, access_token, float(claims["exp"]))
    else:
        token = await verify_bearer(client, access_token, audiences)
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return APIToken(token.claims, access_token, min(token.expires_at, time.time() + float(expires_in)))
    return token
