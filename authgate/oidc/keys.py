"""The IdP's signing keys and token validation (joserfc).

JWKS are cached and re-fetched when a token names an unknown key id (key rotation), at most
once per ``REFETCH_INTERVAL`` so forged key ids cannot make us hammer the IdP.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet, OctKey

from authgate.errors import IdPUnavailable, TokenValidationError

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
        claims, _ = await self.decode_with_header(token, algorithms)
        return claims

    async def decode_with_header(self, token: str, algorithms: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Verify a JWT's signature; return its claims (not yet validated) and its JWS header,
        for callers that must check the header too (a logout token's ``typ``)."""
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
            verified = jwt.decode(token, key, algorithms=[alg])
        except (JoseError, ValueError) as exc:
            raise TokenValidationError(f"bad signature: {exc}") from exc
        return dict(verified.claims), dict(verified.header)


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


def check_registered(claims: dict[str, Any], options: dict[str, Any], *, issuer: str, now: float | None) -> None:
    """The registered claims ``options`` asks for (RFC 7519 ``iss``, ``exp``, ``nbf``, ``iat`` with
    ``LEEWAY`` ...), any failure as ``TokenValidationError`` in words that say which claim."""
    registry = jwt.JWTClaimsRegistry(now=int(now or time.time()), leeway=LEEWAY, **options)
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise TokenValidationError(describe_claim_error(exc, claims, issuer)) from exc


def validate_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    audience: str,
    nonce: str | None,
    now: float | None = None,
    required: tuple[str, ...] = ("exp", "sub"),
) -> None:
    """Check ``iss``, ``aud`` (and ``azp``), that the ``required`` claims are there, ``exp`` and
    ``iat`` when present and, when given, ``nonce``. ``required`` differs for logout tokens, which
    may lack ``sub`` (and, from older IdPs, ``exp``) but must carry ``iat`` and ``jti``."""
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": audience},
    }
    for name in required:
        options[name] = {"essential": True}
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    check_registered(claims, options, issuer=issuer, now=now)
    # OIDC Core 3.1.3.7: a token for several audiences is only ours if azp names us; and an azp
    # naming another client means that client asked for it, whatever the audience.
    azp = claims.get("azp")
    aud = claims.get("aud")
    if azp is None and isinstance(aud, list) and len(aud) > 1:
        raise TokenValidationError("the token names several audiences but no azp")
    if azp is not None and azp != audience:
        raise TokenValidationError(f"azp names another client: {azp!r}")


def describe_claim_error(exc: JoseError, claims: dict[str, Any], issuer: str) -> str:
    """An operator-readable reason, told apart by the error's type and the claim it names (its
    message is prose, and "missing" contains "iss")."""
    if isinstance(exc, MissingClaimError):
        # joserfc names every missing claim at once, comma-separated.
        names = exc.claim.split(",")
        return f"missing claim{'s' if len(names) > 1 else ''} " + ", ".join(repr(n) for n in names)
    if isinstance(exc, ExpiredTokenError):
        return f"token expired (exp {claims.get('exp')!r})"
    if isinstance(exc, InvalidClaimError) and exc.claim == "iss":
        return f"issuer mismatch: the token says {claims.get('iss')!r}, AUTHGATE_ISSUER is {issuer!r}"
    if isinstance(exc, ClaimError):
        # joserfc's default text only repeats the claim name; its specific ones say why.
        default = exc.description == InvalidClaimError.description.format(exc.claim)
        return f"invalid claim {exc.claim!r}" + ("" if default else f": {exc.description}")
    return str(exc)
