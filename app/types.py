"""Plain data shared between layers: who the user is, what a session and a login hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is signed in, as the identity headers and the policy see it."""

    sub: str
    username: str = ""
    email: str = ""
    name: str = ""
    groups: tuple[str, ...] = ()

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Identity:
        groups = claims.get("groups") or ()
        if isinstance(groups, str):
            groups = (groups,)
        return cls(
            sub=str(claims.get("sub", "")),
            username=str(claims.get("preferred_username") or claims.get("nickname") or claims.get("sub", "")),
            email=str(claims.get("email") or ""),
            name=str(claims.get("name") or ""),
            groups=tuple(str(g) for g in groups if isinstance(g, (str, int))),
        )


@dataclass(slots=True)
class SessionData:
    """What a session holds; stored sealed with a per-session key (see ``sealing``)."""

    identity: Identity
    access_token: str
    id_token: str
    refresh_token: str | None
    access_expires_at: float  # unix time; 0 when the IdP did not say
    access_issued_at: float
    created_at: float
    expires_at: float  # hard end of the session (SESSION_TTL after sign-in)
    idp_sid: str = ""  # the IdP's session id ("sid" claim), for back-channel logout
    # Values derived from this session by the HTTP layer (identity headers), never stored.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        i = self.identity
        return {
            "i": [i.sub, i.username, i.email, i.name, list(i.groups)],
            "at": self.access_token,
            "it": self.id_token,
            "rt": self.refresh_token,
            "ae": self.access_expires_at,
            "ai": self.access_issued_at,
            "c": self.created_at,
            "e": self.expires_at,
            "s": self.idp_sid,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionData:
        sub, username, email, name, groups = d["i"]
        return cls(
            identity=Identity(sub, username, email, name, tuple(groups)),
            access_token=d["at"],
            id_token=d["it"],
            refresh_token=d["rt"],
            access_expires_at=float(d["ae"]),
            access_issued_at=float(d["ai"]),
            created_at=float(d["c"]),
            expires_at=float(d["e"]),
            idp_sid=d.get("s", ""),
        )


@dataclass(frozen=True, slots=True)
class LoginState:
    """A sign-in in progress: kept server-side, consumed once by the callback."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str  # the callback URL sent to the IdP (must match at redemption)
    original_url: str  # where the user goes after signing in
    browser: str  # hash of the login-binding cookie of the browser that started it
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "s": self.state,
            "n": self.nonce,
            "v": self.code_verifier,
            "r": self.redirect_uri,
            "o": self.original_url,
            "b": self.browser,
            "c": self.created_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoginState:
        return cls(d["s"], d["n"], d["v"], d["r"], d["o"], d["b"], float(d["c"]))


@dataclass(frozen=True, slots=True)  # frozen: parsed instances are cached and shared
class OriginalRequest:
    """The request the proxy is asking about (from X-Original-* or X-Forwarded-*)."""

    scheme: str
    host: str  # host[:port] as the browser sent it, lower-cased
    path: str  # path only, percent-decoded is NOT applied
    query: str
    method: str

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def hostname(self) -> str:
        """The host without its port."""
        h = self.host
        if h.startswith("["):
            return h[: h.find("]") + 1]
        return h.rsplit(":", 1)[0] if ":" in h else h


@dataclass(slots=True)
class TokenSet:
    """What the IdP's token endpoint returned, after validation."""

    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: float | None
    claims: dict[str, Any] = field(default_factory=dict)
