"""Plain data shared between layers: who the user is, what a session and a login hold.

The stored forms use short JSON keys (they are sealed and read often): docs/architecture.md lists
them in one place, with the callback claim's and the cookie's formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.paths import PathForms, path_forms, routed_path

if TYPE_CHECKING:
    from app.policy import HostRules, Verdict


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is signed in, as the identity headers and the policy see it."""

    sub: str
    username: str = ""
    email: str = ""
    name: str = ""
    groups: tuple[str, ...] = ()
    email_verified: bool = False  # the IdP vouches for ``email`` (its email_verified claim is true)
    entitlements: tuple[str, ...] = ()  # Authentik's per-application entitlements ("entitlements" scope)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Identity:
        verified = claims.get("email_verified")
        return cls(
            sub=str(claims.get("sub", "")),
            username=str(claims.get("preferred_username") or claims.get("nickname") or claims.get("sub", "")),
            email=str(claims.get("email") or ""),
            name=str(claims.get("name") or ""),
            groups=_names(claims.get("groups")),
            # Some IdPs send the string "true"; anything else is not a promise.
            email_verified=verified is True or verified == "true",
            entitlements=_names(claims.get("entitlements")),
        )


def _names(value: Any) -> tuple[str, ...]:
    """A claim listing names (groups, entitlements): a list, or one name as a string."""
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(str(g) for g in value if isinstance(g, (str, int)) and not isinstance(g, bool))


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
    # Where the session is valid: the host it was signed in on, or ".<cookie domain>" in
    # domain-level mode. A cookie copied to another host opens nothing there.
    scope: str = ""
    # The OAuth client the session was signed in with: its refresh and sign-out use it. "" is the
    # global client (AUTHGATE_CLIENT_ID); an app of the rules file may name its own.
    client: str = ""

    # Headers the IdP asked to send upstream (Authentik's ak_proxy claim), checked by app.upstream.
    upstream: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        i = self.identity
        identity: list[Any] = [i.sub, i.username, i.email, i.name, list(i.groups), i.email_verified]
        if i.entitlements:
            identity.append(list(i.entitlements))
        out: dict[str, Any] = {
            "i": identity,
            "at": self.access_token,
            "it": self.id_token,
            "rt": self.refresh_token,
            "ae": self.access_expires_at,
            "ai": self.access_issued_at,
            "c": self.created_at,
            "e": self.expires_at,
            "s": self.idp_sid,
            "h": self.scope,
        }
        if self.client:
            out["k"] = self.client
        if self.upstream:
            out["u"] = [list(pair) for pair in self.upstream]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionData:
        # Older sessions: 5 identity items (no email_verified), 6 (no entitlements), no "u".
        sub, username, email, name, groups, *rest = d["i"]
        verified = bool(rest and rest[0])
        entitlements = tuple(rest[1]) if len(rest) > 1 else ()
        return cls(
            identity=Identity(sub, username, email, name, tuple(groups), verified, entitlements),
            access_token=d["at"],
            id_token=d["it"],
            refresh_token=d["rt"],
            access_expires_at=float(d["ae"]),
            access_issued_at=float(d["ai"]),
            created_at=float(d["c"]),
            expires_at=float(d["e"]),
            idp_sid=d.get("s", ""),
            scope=d.get("h", ""),
            client=str(d.get("k", "")),
            upstream=tuple((str(n), str(v)) for n, v in d.get("u", ())),
        )


@dataclass(frozen=True, slots=True)
class LoginState:
    """A sign-in in progress: sealed into a cookie of the browser that started it, never stored."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str  # the callback URL sent to the IdP (must match at redemption)
    original_url: str  # where the user goes after signing in
    created_at: float
    client: str = ""  # the OAuth client the sign-in started with ("": the global one)

    def to_json(self) -> dict[str, Any]:
        extra = {"k": self.client} if self.client else {}
        return {
            "s": self.state,
            "n": self.nonce,
            "v": self.code_verifier,
            "r": self.redirect_uri,
            "o": self.original_url,
            "c": self.created_at,
            **extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoginState:
        return cls(str(d["s"]), str(d["n"]), str(d["v"]), str(d["r"]), str(d["o"]), float(d["c"]), str(d.get("k", "")))


def hostname_of(host: str) -> str:
    """``host[:port]`` without its port (an IPv6 literal keeps its brackets)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


@dataclass(frozen=True, slots=True)  # frozen: parsed instances are cached and shared
class OriginalRequest:
    """The request the proxy is asking about (from X-Original-* or X-Forwarded-*)."""

    scheme: str
    host: str  # host[:port] as the browser sent it, lower-cased
    path: str  # the path as sent (not percent-decoded: see app.paths for what the app sees)
    query: str
    method: str  # "" when the proxy did not say
    hostname: str = field(default="", compare=False)  # the host without its port (derived)
    #: The path as a server routes it (app.paths.routed_path), derived once: instances are memoised.
    routed: str = field(default="", compare=False)
    #: The path's canonical form and readings, what the rules match (app.paths.path_forms), derived once.
    forms: PathForms = field(init=False, compare=False)
    #: The last verdict on this request and the host rules that gave it (policy.HostRules.verdict_for).
    decided: tuple[HostRules, Verdict] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.hostname:
            object.__setattr__(self, "hostname", hostname_of(self.host))
        if not self.routed:
            object.__setattr__(self, "routed", routed_path(self.path))
        object.__setattr__(self, "forms", path_forms(self.path))

    def remember(self, rules: HostRules, verdict: Verdict) -> None:
        """Keep the verdict of ``rules`` on this (memoised, otherwise immutable) request."""
        object.__setattr__(self, "decided", (rules, verdict))

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}" + (f"?{self.query}" if self.query else "")


@dataclass(slots=True)
class TokenSet:
    """What the IdP's token endpoint returned, after validation."""

    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: float | None
    claims: dict[str, Any] = field(default_factory=dict)
