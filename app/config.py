"""The settings object: read from ``AUTHGATE_*`` variables once at startup, validated whole.

``load_settings()`` reports every problem at once (as one ``ConfigError``), in words an
operator can act on. Secrets may come from files (``AUTHGATE_SECRET_FILE`` ...). Per-app
rules come from an optional TOML/YAML file (``AUTHGATE_CONFIG``).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from app.errors import ConfigError

ENV_PREFIX = "AUTHGATE_"
SECRET_FIELDS = ("secret", "client_secret", "redis_url")
HEADER_SET_NAMES = ("authentik", "oauth2-proxy", "authelia")
MIN_SECRET_LENGTH = 32
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105 - a command, not a secret
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

CommaList = Annotated[list[str], NoDecode]


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_BARE_HOST = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?$")


class AppRule(BaseSettings):
    """Per-host overrides from the rules file: who may pass and what is public."""

    model_config = SettingsConfigDict(extra="forbid")

    host: str
    allowed_groups: list[str] | None = None
    allowed_users: list[str] | None = None
    allowed_email_domains: list[str] | None = None
    skip_auth: list[str] = []

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        host = value.strip().lower().rstrip(".")
        if not _BARE_HOST.match(host):
            raise ValueError(f"{value!r} must be a bare host name like `app.example.com` (no scheme, port or path)")
        return host


class Settings(BaseSettings):
    """Everything authgate is configured with. Field docs become the configuration reference."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False)

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
    scopes: str = Field("openid email profile offline_access", description="Scopes requested at sign-in.")
    allowed_groups: CommaList = Field(
        default_factory=list, description="Only members of one of these groups may pass (default: anyone)."
    )
    allowed_users: CommaList = Field(
        default_factory=list, description="Only these usernames (preferred_username) or subjects may pass."
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
    login_ttl: int = Field(600, description="Seconds a sign-in may take at the IdP.")
    path_prefix: str = Field("/outpost.goauthentik.io", description="Prefix of every gateway route.")
    header_sets: CommaList = Field(
        default_factory=lambda: ["authentik", "oauth2-proxy"],
        description="Identity header sets: `authentik`, `oauth2-proxy`, `authelia`.",
    )
    cookie_name: str = Field("authgate_session", description="Name of the session cookie.")
    config: str = Field("", description="Optional TOML or YAML file with per-app rules.")
    dev_mode: bool = Field(False, description="Development mode: allows weak or missing secrets (never in production).")
    session_cache_ttl: float = Field(
        15.0,
        description="Seconds a replica may answer repeat checks from its local cache of verified sessions "
        "(0 disables). Sign-outs and refreshes invalidate it on every replica at once.",
    )
    store_timeout: float = Field(1.0, description="Seconds any one store call may take before the gateway answers 503.")
    idp_timeout: float = Field(10.0, description="Seconds any one call to the IdP may take.")
    log_level: str = Field("info", description="`debug`, `info`, `warning` or `error`.")

    apps: list[AppRule] = Field(default_factory=list, exclude=True)

    @field_validator(
        "secret",
        "allowed_groups",
        "allowed_users",
        "allowed_email_domains",
        "skip_auth",
        "allowed_redirect_domains",
        "trusted_proxies",
        "header_sets",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _split(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() gathers the environment itself (with the *_FILE secrets): one source.
        return (init_settings,)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


def _read_secret_files(environ: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SECRET_FIELDS:
        var = f"{ENV_PREFIX}{name.upper()}_FILE"
        path = environ.get(var)
        if not path:
            continue
        try:
            values[name] = Path(path).read_text().strip()
        except OSError as exc:
            problems.append(
                f"{var}={path}: cannot read the file ({exc.strerror}). Mount the secret there or unset {var}."
            )
    return values


def _load_rules(path: str, problems: list[str]) -> list[AppRule]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        problems.append(f"AUTHGATE_CONFIG={path}: cannot read the file ({exc.strerror}).")
        return []
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is a config problem
        problems.append(f"AUTHGATE_CONFIG={path}: not valid TOML/YAML ({exc}).")
        return []
    rules: list[AppRule] = []
    seen: set[str] = set()
    apps = data.get("apps", []) if isinstance(data, dict) else None
    if not isinstance(apps, list):
        problems.append(f"AUTHGATE_CONFIG={path}: expected a list named `apps`.")
        return []
    for index, item in enumerate(apps):
        try:
            rule = AppRule.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"])
                problems.append(f"AUTHGATE_CONFIG={path}: apps[{index}].{loc}: {err['msg']}.")
            continue
        if rule.host in seen:
            problems.append(f"AUTHGATE_CONFIG={path}: apps[{index}].host: {rule.host!r} is listed twice.")
        seen.add(rule.host)
        rules.append(rule)
    return rules


def _check_url(name: str, value: str, problems: list[str], *, required: bool) -> None:
    if not value:
        if required:
            problems.append(f"AUTHGATE_{name} is not set.")
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"AUTHGATE_{name}={value!r} is not an absolute http(s) URL.")


def _semantic_problems(s: Settings) -> list[str]:
    problems: list[str] = []
    _check_url("ISSUER", s.issuer, problems, required=True)
    _check_url("BACKCHANNEL_URL", s.backchannel_url, problems, required=False)
    _check_url("EXTERNAL_URL", s.external_url, problems, required=bool(s.cookie_domain))
    if not s.client_id:
        problems.append("AUTHGATE_CLIENT_ID is not set: copy the client id from the IdP's application.")
    if not s.secret:
        if not s.dev_mode:
            problems.append(f"AUTHGATE_SECRET is not set: generate one with `{GENERATE_SECRET}`.")
    elif not s.dev_mode:
        for i, key in enumerate(s.secret):
            if len(key) < MIN_SECRET_LENGTH or len(set(key)) < 8:
                problems.append(
                    f"AUTHGATE_SECRET key #{i + 1} is weak (needs {MIN_SECRET_LENGTH}+ random characters): "
                    f"generate one with `{GENERATE_SECRET}`."
                )
    if "openid" not in s.scope_list:
        problems.append(f"AUTHGATE_SCOPES={s.scopes!r} lacks `openid`.")
    if not s.path_prefix.startswith("/") or s.path_prefix.endswith("/") or "?" in s.path_prefix:
        problems.append(f"AUTHGATE_PATH_PREFIX={s.path_prefix!r} must start with `/` and not end with `/`.")
    for name in s.header_sets:
        if name not in HEADER_SET_NAMES:
            problems.append(f"AUTHGATE_HEADER_SETS: unknown set {name!r} (known: {', '.join(HEADER_SET_NAMES)}).")
    for cidr in s.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"AUTHGATE_TRUSTED_PROXIES: {cidr!r} is not an IP address or CIDR.")
    rules = [("AUTHGATE_SKIP_AUTH", r) for r in s.skip_auth]
    rules += [(f"AUTHGATE_CONFIG apps[{a.host}].skip_auth", r) for a in s.apps for r in a.skip_auth]
    for where, rule in rules:
        pattern = rule.split("=", 1)[1] if re.match(r"^[A-Z]+=", rule) else rule
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{where}: {rule!r} is not a valid regular expression ({exc}).")
    if s.cookie_domain and s.external_url:
        host = (urlsplit(s.external_url).hostname or "").lower()
        domain = s.cookie_domain.lower().lstrip(".")
        if host != domain and not host.endswith("." + domain):
            problems.append(
                f"AUTHGATE_COOKIE_DOMAIN={s.cookie_domain!r} does not cover AUTHGATE_EXTERNAL_URL's host {host!r}: "
                "the cookie set at the callback would not be sent back."
            )
    if s.session_ttl < 60 or s.login_ttl < 30:
        problems.append("AUTHGATE_SESSION_TTL must be at least 60 and AUTHGATE_LOGIN_TTL at least 30 seconds.")
    if s.store_timeout <= 0 or s.idp_timeout <= 0:
        problems.append("AUTHGATE_STORE_TIMEOUT and AUTHGATE_IDP_TIMEOUT must be positive.")
    return problems


def _gather(environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The AUTHGATE_* values; a name that is no setting is a problem (a typo would otherwise
    silently drop, say, a group restriction)."""
    known = [name for name in Settings.model_fields if name != "apps"]
    values: dict[str, Any] = {}
    for key, value in environ.items():
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        name = upper[len(ENV_PREFIX) :].lower()
        if name.endswith("_file"):
            if name[: -len("_file")] not in SECRET_FIELDS:
                problems.append(f"{upper} is not a setting: only {', '.join(_names(SECRET_FIELDS, '_FILE'))} exist.")
            continue
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean AUTHGATE_{close[0].upper()}?" if close else ""
            problems.append(f"{upper} is not a setting.{hint}")
            continue
        values[name] = value
    return values


def _names(fields: tuple[str, ...], suffix: str = "") -> list[str]:
    return [f"{ENV_PREFIX}{f.upper()}{suffix}" for f in fields]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings from the environment; raise ``ConfigError`` listing every problem."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    values = _gather(env, problems)
    values.update(_read_secret_files(env, problems))
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        bad = set()
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            bad.add(field)
            problems.append(f"AUTHGATE_{field.upper()}: {err['msg']}.")
        # Validate the rest on its own, so one bad value does not hide the other problems.
        settings = Settings(**{k: v for k, v in values.items() if k not in bad})
    if settings.config:
        settings.apps = _load_rules(settings.config, problems)
    problems += _semantic_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings
