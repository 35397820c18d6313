"""The settings object and the rules file's per-app entries: fields, defaults, field-level checks.

Field descriptions become the configuration reference (docs/configuration.md, tools/docs_gen.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from authgate.config.rules import AppRule

ENV_PREFIX = "AUTHGATE_"
SECRET_FIELDS = ("secret", "client_secret", "redis_url", "authentik_token")
#: Authentik's outpost reads these without a prefix; authgate reads them too (``AUTHGATE_AUTHENTIK_*`` wins).
OUTPOST_VARIABLES = ("AUTHENTIK_HOST", "AUTHENTIK_TOKEN", "AUTHENTIK_INSECURE", "AUTHENTIK_HOST_BROWSER")
#: The identity header sets an operator may name (AUTHGATE_HEADER_SETS); what each one holds is
#: authgate/access/identity_headers.py's, which builds exactly these.
HEADER_SET_NAMES = ("authentik", "oauth2-proxy", "authelia")
MIN_SECRET_LENGTH = 32
GENERATE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105 - a command, not a secret
# `none` is left out: every sign-in would fail at an IdP without a session (login_required).
PROMPT_VALUES = ("consent", "login", "select_account")
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


class CommaSeparated:
    """Marks a list setting written comma-separated in the environment (split by ``_split_lists``;
    the configuration reference says so)."""


CommaList = Annotated[list[str], CommaSeparated()]


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseModel):
    """Everything authgate is configured with. Field docs become the configuration reference.

    Built once at startup by ``load_settings`` (authgate/config/__init__.py) from what
    authgate/config/sources.py gathers: the environment, ``*_FILE`` secrets and the rules file."""

    # Defaults are validated too: list defaults are written comma-separated, as in the environment.
    model_config = ConfigDict(extra="ignore", validate_default=True)

    issuer: str = Field(
        "", description="The IdP's public issuer URL, e.g. `https://auth.example.com/application/o/grafana/`."
    )
    client_id: str = Field("", description="The OAuth client id registered at the IdP.")
    client_secret: str = Field("", description="The OAuth client secret (or `AUTHGATE_CLIENT_SECRET_FILE`).")
    backchannel_url: str = Field(
        "", description="Where authgate itself reaches the IdP, e.g. `http://authentik-server:9000` (optional)."
    )
    secret: CommaList = Field(
        default_factory=list,
        description="Cookie signing keys, comma-separated; the first signs, all verify (rotation). "
        "At least 32 characters each. Sessions are sealed with a per-session key that only the cookie holds.",
    )
    redis_url: str = Field(
        "",
        description="`redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://` URL. "
        "Unset: in-process store (one replica only).",
    )
    cookie_domain: str = Field(
        "", description="Domain for the session cookie in domain-level mode, e.g. `example.com`."
    )
    external_url: str = Field(
        "",
        description="authgate's own public URL (domain-level mode's single callback), e.g. `https://auth.example.com`.",
    )
    scopes: str = Field(
        "openid email profile offline_access",
        description="Scopes requested at sign-in. With Authentik, add `entitlements` (`X-authentik-entitlements`) "
        "and `ak_proxy` (additionalHeaders, HTTP Basic credentials) when the provider has those scope mappings: "
        "some other IdPs refuse a scope they do not know.",
    )
    prompt: str = Field(
        "",
        description="The OIDC `prompt` sent with every sign-in, e.g. `consent` (empty: none). OpenID Connect "
        "Core asks for `prompt=consent` with `offline_access`, and IdPs that follow it strictly (LemonLDAP::NG) "
        "issue no refresh token without it unless the client skips consent there; see docs/identity-providers.md.",
    )
    allowed_groups: CommaList = Field(
        default_factory=list, description="Only members of one of these groups may pass (default: anyone)."
    )
    allowed_users: CommaList = Field(
        default_factory=list,
        description="Only these usernames (preferred_username) or subjects may pass; an entry `sub:<subject>` "
        "matches the subject only (a user may be able to change their username at the IdP, never their subject).",
    )
    allowed_email_domains: CommaList = Field(
        default_factory=list, description="Only users whose email is in one of these domains may pass."
    )
    allow_unverified_email: bool = Field(
        False,
        description="Let email-domain rules admit addresses the IdP does not mark `email_verified: true` "
        "(Authentik 2025.10 and later sends `false` unless a scope mapping says otherwise).",
    )
    skip_auth: CommaList = Field(
        default_factory=list, description="Public routes: `regex` or `METHOD=regex` on the path, comma-separated."
    )
    allowed_redirect_domains: CommaList = Field(
        default_factory=list, description="Extra domains `rd` may point to; `.example.com` includes subdomains."
    )
    trusted_proxies: CommaList = Field(
        default_factory=lambda: _split(DEFAULT_TRUSTED_PROXIES),
        description="CIDRs whose X-Forwarded-* / X-Original-* headers are believed.",
    )
    session_ttl: int = Field(7 * 24 * 3600, description="Seconds a session lasts after sign-in.")
    session_idle_ttl: float = Field(
        0.0,
        description="Seconds a session may go unused before it ends (0: no idle timeout; "
        "`AUTHGATE_SESSION_TTL` still ends it). Use extends it without a store write per request: the "
        "deadline is exact to within `AUTHGATE_SESSION_CACHE_TTL`, and must be more than twice that.",
    )
    login_ttl: int = Field(600, description="Seconds a sign-in may take at the IdP.")
    path_prefix: str = Field("/outpost.goauthentik.io", description="Prefix of every gateway route.")
    header_sets: CommaList = Field(
        default_factory=lambda: ["authentik", "oauth2-proxy"],
        description="Identity header sets: `authentik`, `oauth2-proxy`, `authelia`.",
    )
    header_auth: CommaList = Field(
        default_factory=list,
        description="API clients without a browser (Authentik's *intercept header auth*), off when empty: "
        "`bearer` accepts `Authorization: Bearer <JWT>`, an access token signed by the IdP for this client (never an "
        "ID token); `basic` accepts "
        "`Authorization: Basic` with a username and an app password, checked at the IdP. `bearer,basic` for both. "
        "These requests are never redirected: 200, 401 or 403. A valid session cookie is used first.",
    )
    header_auth_audiences: CommaList = Field(
        default_factory=list,
        description="With `AUTHGATE_HEADER_AUTH=bearer`: other audiences (client ids) a bearer token may be for, "
        "besides `AUTHGATE_CLIENT_ID`, comma-separated. Tokens of any other client are refused.",
    )
    authentik_outpost_name: str = Field(
        "authgate",
        description="Sent as `X-authentik-meta-outpost` (the authentik header set). In outpost mode, when unset: "
        "the outpost's name in Authentik.",
    )
    authentik_provider_name: str = Field(
        "", description="Sent as `X-authentik-meta-provider`; default: the application slug."
    )
    authentik_app_slug: str = Field(
        "",
        description="Sent as `X-authentik-meta-app`; default: `<slug>` from an issuer ending in "
        "`/application/o/<slug>/` (Authentik's layout), else none.",
    )
    authentik_jwks_url: str = Field(
        "",
        description="Sent as `X-authentik-meta-jwks`; default: `<issuer>jwks/` for an issuer in Authentik's "
        "layout, else none.",
    )
    authentik_basic_auth_password_attribute: str = Field(
        "",
        description="Send the app HTTP Basic credentials (`Authorization: Basic ...`) from this user attribute "
        "in Authentik's `ak_proxy` claim (request the `ak_proxy` scope). Unset: off, and the client's own "
        "`Authorization` header passes through to the app.",
    )
    authentik_basic_auth_username_attribute: str = Field(
        "", description="The user attribute holding the Basic username; unset or missing: the email address."
    )
    authentik_host: str = Field(
        "",
        description="Outpost mode (docs/migrating-from-authentik-outpost.md): where authgate reaches Authentik's API, "
        "e.g. `http://server:9000`. `AUTHENTIK_HOST` (the outpost's own name) works too. With it, the apps are "
        "Authentik's proxy providers of this outpost, and `AUTHGATE_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` are "
        "not needed.",
    )
    authentik_token: str = Field(
        "",
        description="Outpost mode: the outpost's token (Authentik: Applications, Outposts, View deployment info); "
        "`AUTHENTIK_TOKEN` works too. Unset `AUTHGATE_SECRET` is then derived from it.",
    )
    authentik_insecure: bool = Field(
        False, description="Outpost mode: do not verify Authentik's TLS certificate (`AUTHENTIK_INSECURE`)."
    )
    authentik_host_browser: str = Field(
        "",
        description="Outpost mode: the URL browsers reach Authentik at, when it differs from `AUTHENTIK_HOST` "
        "(`AUTHENTIK_HOST_BROWSER`): sign-in and sign-out pages and the issuer use it, while token, JWKS and "
        "userinfo calls go to `AUTHENTIK_HOST` with its `Host` header.",
    )
    cookie_name: str = Field("authgate_session", description="Name of the session cookie.")
    config: str = Field(
        "",
        description="Optional TOML or YAML file of access rules, host by host (read again on `SIGHUP` and when it "
        "changes; see the rules file below).",
    )
    dev_mode: bool = Field(False, description="Development mode: allows weak or missing secrets (never in production).")
    session_cache_ttl: float = Field(
        15.0,
        description="Seconds a replica may answer repeat checks from its local cache of verified sessions "
        "(0 disables). Sign-outs and refreshes invalidate it on every replica at once.",
    )
    wire: bool = Field(
        True,
        description="Answer auth checks in authgate's own HTTP/1.1 protocol, cached ones right at the socket "
        "(docs/performance.md); `false` serves every request through uvicorn's protocol instead.",
    )
    store_timeout: float = Field(1.0, description="Seconds any one store call may take before the gateway answers 503.")
    idp_timeout: float = Field(10.0, description="Seconds any one call to the IdP may take.")
    log_level: str = Field("info", description="`debug`, `info`, `warning` or `error`.")
    log_format: str = Field(
        "text",
        description="`text` (one line per event, `key=value` fields) or `json` (one object per line, "
        "stable keys, for a log collector). Either way every line carries the request id and the replica.",
    )
    log_allows: bool = Field(
        False,
        description="Also write an audit line (`access.allowed`) for allowed requests, sampled "
        "(`AUTHGATE_LOG_ALLOWS_SAMPLE`). Off: allows are only counted (`authgate_auth_checks`).",
    )
    log_allows_sample: int = Field(
        100, ge=1, description="With `AUTHGATE_LOG_ALLOWS=true`, log one allowed request in this many (1: every one)."
    )
    replica_name: str = Field(
        "", description="This replica's name in log lines (default: `<hostname>:<pid>`, e.g. the pod's name)."
    )

    apps: list[AppRule] = Field(default_factory=list, exclude=True)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        words = value.split()
        unknown = [w for w in words if w not in PROMPT_VALUES]
        if unknown:
            raise ValueError(f"unknown prompt value(s) {', '.join(unknown)}; known: {', '.join(PROMPT_VALUES)}")
        return " ".join(words)

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("must be `text` or `json`")
        return value.lower()

    @field_validator(
        "secret",
        "allowed_groups",
        "allowed_users",
        "allowed_email_domains",
        "skip_auth",
        "allowed_redirect_domains",
        "trusted_proxies",
        "header_sets",
        "header_auth",
        "header_auth_audiences",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _split(value)

    @property
    def outpost_mode(self) -> bool:
        """The apps come from Authentik's API (``AUTHENTIK_HOST``), not (only) from the rules file."""
        return bool(self.authentik_host)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()
