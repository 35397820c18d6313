"""The IdP's signing keys and token validation (joserfc).

JWKS are cached and re-fetched when a token names an unknown key id (key rotation), at most
once per ``REFETCH_INTERVAL`` so forged key ids cannot make us hammer the IdP.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from app.errors import IdPUnavailable, TokenValidationError

REFETCH_INTERVAL = 30.0
LEEWAY = 60
ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class KeyCache:
    def __init__(self, fetch_jwks: Callable[[], Awaitable[dict[str, Any]]], client_secret: str) -> None:
        self._fetch = fetch_jwks
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._secret = client_secret

    async def _refresh(self) -> KeySet:
        data = await self._fetch()
        try:
            self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise IdPUnavailable(f"the IdP's JWKS could not be read: {exc}") from exc
        self._fetched_at = time.monotonic()
        return self._keys

    async def keys(self) -> KeySet:
        return self._keys if self._keys is not None else await self._refresh()

    async def decode(self, token: str, algorithms: list[str]) -> dict[str, Any]:
        """Verify a JWT's signature; return its claims (not yet validated)."""
        if token.count(".") != 2:
            raise TokenValidationError("not a signed JWT")
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise TokenValidationError("malformed JWT") from exc
        alg = header.get("alg")
        if alg not in algorithms:
            raise TokenValidationError(f"token signed with {alg!r}, expected one of {algorithms}")
        key: Any
        if alg.startswith("HS"):
            # Authentik signs with the client secret when no signing key is set.
            key = OctKey.import_key(self._secret)
        else:
            key = await self.keys()
            kid = header.get("kid")
            if kid is not None and not _has_kid(key, kid):
                if time.monotonic() - self._fetched_at < REFETCH_INTERVAL:
                    raise TokenValidationError(f"unknown key id {kid!r}")
                key = await self._refresh()
                if not _has_kid(key, kid):
                    raise TokenValidationError(f"unknown key id {kid!r}")
        try:
            return dict(jwt.decode(token, key, algorithms=[alg]).claims)
        except (JoseError, ValueError) as exc:
            raise TokenValidationError(f"bad signature: {exc}") from exc


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


def validate_claims(
    claims: dict[str, Any], *, issuer: str, audience: str, nonce: str | None, now: float | None = None
) -> None:
    """Check ``iss``, ``aud`` (and ``azp``), ``exp``, ``iat`` and, when given, ``nonce``."""
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": audience},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    registry = jwt.JWTClaimsRegistry(now=int(now or time.time()), leeway=LEEWAY, **options)
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise TokenValidationError(_describe(exc, claims, issuer)) from exc
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp", audience) != audience:
        raise TokenValidationError("azp does not name this client")


def _describe(exc: JoseError, claims: dict[str, Any], issuer: str) -> str:
    text = str(exc)
    if "iss" in text:
        return f"issuer mismatch: the token says {claims.get('iss')!r}, AUTHGATE_ISSUER is {issuer!r}"
    return text
