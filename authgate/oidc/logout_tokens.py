"""Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0): what one must hold once its
signature, issuer and audience are checked (authgate/oidc/client.py), and which client a token
names before that.

Pure logic: no I/O.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from authgate.errors import TokenValidationError

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_MAX_AGE = 600.0  # OIDC Back-Channel Logout asks for a short window; also the lifetime without exp
LOGOUT_TYP = "logout+jwt"


@dataclass(frozen=True, slots=True)
class LogoutToken:
    """A validated back-channel logout token. ``jti`` and ``expires_at`` (epoch seconds) are for the
    caller's replay check: remember the ``jti`` until ``expires_at``, after which the token is refused
    anyway."""

    sid: str
    sub: str
    jti: str
    expires_at: float


def check_logout_type(typ: object) -> None:
    """Back-Channel Logout 2.4: a logout token SHOULD be typed ``logout+jwt`` so that no other JWT
    (an ID token above all) can pass for one. Untyped tokens are still accepted, as some IdPs omit it."""
    if typ is None:
        return
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != LOGOUT_TYP:
        raise TokenValidationError(f"not a logout token: its typ is {typ!r}, expected {LOGOUT_TYP!r}")


def logout_token_of(claims: dict[str, Any]) -> LogoutToken:
    """Section 2.6's rules on claims already checked for issuer, audience, ``iat`` and ``jti``:
    the logout event, no nonce, a recent ``iat``, and a ``sid`` or ``sub`` (at least one)."""
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
        raise TokenValidationError("logout token lacks the back-channel logout event")
    if "nonce" in claims:
        raise TokenValidationError("logout token must not carry a nonce")
    iat = float(claims["iat"])  # a number: validate_claims checked it
    if abs(time.time() - iat) > LOGOUT_TOKEN_MAX_AGE:
        raise TokenValidationError("logout token is too old")
    sid, sub = str(claims.get("sid") or ""), str(claims.get("sub") or "")
    if not sid and not sub:
        raise TokenValidationError("logout token names neither sid nor sub")
    exp = claims.get("exp")
    return LogoutToken(
        sid=sid,
        sub=sub,
        jti=str(claims["jti"]),  # a non-empty string: validate_claims checked it
        expires_at=float(exp) if exp is not None else iat + LOGOUT_TOKEN_MAX_AGE,
    )


def unverified_audience(token: str) -> tuple[str, tuple[str, ...]]:
    """A JWT's ``iss`` and ``aud``, read WITHOUT checking anything: only to choose which client
    validates it (each client then checks signature, issuer and audience itself). ("", ()) when
    it is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 16384:
        return "", ()
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return "", ()
    if not isinstance(claims, dict):
        return "", ()
    aud = claims.get("aud")
    audiences = (
        (aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else ()
    )
    iss = claims.get("iss")
    return (iss if isinstance(iss, str) else ""), audiences
