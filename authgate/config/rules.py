"""The rules file's entries: a host entry (``[[apps]]``) and its path rules, with field checks.

One entry per app: its hosts (exact or ``*.`` wildcards), who may pass, its ordered path rules,
and optionally its own OAuth client at the IdP (``issuer``, ``client_id``, ``client_secret`` ...),
as Authentik gives every application its own provider (docs/operating.md, docs/configuration.md).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from authgate.regexes import problem

HEADER_AUTH_MODES = ("bearer", "basic")
_METHOD_RULE = re.compile(r"^([A-Z]+)=(.*)$", re.S)


def split_skip_rule(rule: str) -> tuple[str | None, str]:
    """A public-route rule's method and regex: ``METHOD=regex`` (an upper-case method) or ``regex``."""
    m = _METHOD_RULE.match(rule)
    return (m.group(1), m.group(2)) if m else (None, rule)


_BARE_HOST = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
#: A host entry's allow-lists; the short form names them ``allowed_<name>``.
SHORT = ("groups", "users", "email_domains")


def _compiles(value: str) -> str:
    """``value`` (a path regex) when RE2 takes it; else why not and what to write instead."""
    why = problem(value)
    if why is not None:
        raise ValueError(why)
    return value


class PathRuleEntry(BaseModel):
    """One path rule of a host entry (``rules = [...]``): first match wins."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    methods: list[str] | None = None
    policy: Literal["public", "deny"] | None = None
    groups: list[str] | None = None
    users: list[str] | None = None
    email_domains: list[str] | None = None
    networks: list[str] | None = None

    @field_validator("path")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _compiles(value)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        bad = [m for m in value if not _METHOD.match(m)]
        if bad or not value:
            raise ValueError(f"methods must be upper-case method names like GET or POST (not {bad or value})")
        return value

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP address or CIDR") from None
        return value

    @model_validator(mode="after")
    def _one_policy(self) -> PathRuleEntry:
        lists = [k for k in ("groups", "users", "email_domains", "networks") if getattr(self, k) is not None]
        if self.policy is not None and lists:
            raise ValueError(
                f"policy {self.policy!r} admits or refuses everyone: it cannot have {', '.join(lists)} "
                "(leave policy out for a rule of who may pass)"
            )
        return self


def covers(domain: str, host: str) -> bool:
    """``host`` (``*.`` wildcards too) is ``domain`` or under it, on a dot boundary."""
    name = host.lower().removeprefix("*.")
    return bool(name) and (name == domain or name.endswith("." + domain))


@dataclass(frozen=True, slots=True)
class AppClient:
    """An app's own OAuth client at the IdP (an Authentik application's provider)."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]


class AppRule(BaseModel):
    """One host entry of the rules file: its hosts, who may pass, its path rules, and optionally its
    own OAuth client and header auth (each app without them uses the global ones)."""

    model_config = ConfigDict(extra="forbid")

    host: str | list[str]
    groups: list[str] | None = None
    users: list[str] | None = None
    email_domains: list[str] | None = None
    rules: list[PathRuleEntry] = []
    skip_auth: list[str] = []
    # Public routes matched on the whole URL, ``scheme://host/path``, and with the query too when it
    # has one (an Authentik forward_domain provider's skip_path_regex, as its outpost matches them).
    skip_auth_url: list[str] = []
    # The app serves a path whatever its case (IIS, Express, a case-insensitive file system): its
    # rules then ignore case (docs/configuration.md).
    case_insensitive_paths: bool = False
    # The app's own client (Authentik: its provider's issuer /application/o/<slug>/, id and secret).
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    client_secret_file: str | None = None  # read when the file is loaded
    scopes: str | None = None  # default: AUTHGATE_SCOPES
    header_auth: list[str] | None = None  # default: AUTHGATE_HEADER_AUTH ([] turns it off here)
    header_auth_audiences: list[str] | None = None  # default: AUTHGATE_HEADER_AUTH_AUDIENCES
    # HTTP Basic credentials for the app from the user's attributes (Authentik's ak_proxy claim), as a
    # proxy provider's settings name them; absent: AUTHGATE_AUTHENTIK_BASIC_AUTH_*.
    basic_auth_enabled: bool | None = None
    basic_auth_user_attribute: str | None = None
    basic_auth_password_attribute: str | None = None
    session_ttl: int | None = None  # at most this long (a provider's access_token_validity); default: global
    authentik_provider_name: str | None = None  # X-authentik-meta-provider; default: the global value
    authentik_app_slug: str | None = None  # X-authentik-meta-app; default: the global value
    authentik_outpost_name: str | None = None  # X-authentik-meta-outpost; default: the global value
    # Domain-level mode for this app alone: its session cookie for the cookie domain, its sign-ins at
    # the external URL's callback (an Authentik forward_domain provider).
    cookie_domain: str | None = None
    external_url: str | None = None

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{value!r} must be the IdP's issuer URL, e.g. https://auth.example.com/application/o/wiki/"
            )
        return value

    @field_validator("header_auth")
    @classmethod
    def _modes(cls, value: list[str]) -> list[str]:
        bad = [m for m in value if m.lower() not in HEADER_AUTH_MODES]
        if bad:
            raise ValueError(f"unknown header auth mode(s) {bad} (known: {', '.join(HEADER_AUTH_MODES)})")
        return [m.lower() for m in value]

    @model_validator(mode="after")
    def _whole_client(self) -> AppRule:
        named = [
            k for k in ("issuer", "client_id", "client_secret", "client_secret_file", "scopes") if getattr(self, k)
        ]
        if not named:
            return self
        missing = [k for k in ("issuer", "client_id") if not getattr(self, k)]
        if not (self.client_secret or self.client_secret_file):
            missing.append("client_secret (or client_secret_file)")
        if missing:
            raise ValueError(
                f"an app's own client needs issuer, client_id and client_secret: {', '.join(missing)} missing "
                f"(set with {', '.join(named)}; leave all out to use the global client)"
            )
        if self.client_secret and self.client_secret_file:
            raise ValueError("client_secret and client_secret_file are both set: keep one")
        return self

    @model_validator(mode="after")
    def _basic_auth(self) -> AppRule:
        named = self.basic_auth_user_attribute is not None or self.basic_auth_password_attribute is not None
        if self.basic_auth_enabled and not self.basic_auth_password_attribute:
            raise ValueError("basic_auth_enabled = true needs basic_auth_password_attribute (the user attribute)")
        if named and self.basic_auth_enabled is None:
            raise ValueError("basic_auth_*_attribute is set without basic_auth_enabled: add basic_auth_enabled = true")
        if self.session_ttl is not None and self.session_ttl < 60:
            raise ValueError(f"session_ttl = {self.session_ttl}: at least 60 seconds")
        return self

    @model_validator(mode="after")
    def _own_domain(self) -> AppRule:
        if self.cookie_domain is None and self.external_url is None:
            return self
        if not self.cookie_domain or not self.external_url:
            raise ValueError("cookie_domain and external_url go together (this app's domain-level mode): set both")
        domain = self.cookie_domain.strip().lower().lstrip(".")
        if not _BARE_HOST.match(domain) or "." not in domain:
            raise ValueError(f"cookie_domain {self.cookie_domain!r} must be a domain like `example.com`")
        auth = (urlsplit(self.external_url).hostname or "") if re.match(r"^https?://", self.external_url) else ""
        uncovered = [h for h in [auth, *self.hosts] if not covers(domain, h)]
        if uncovered:
            raise ValueError(
                f"cookie_domain {domain!r} does not cover {', '.join(map(repr, uncovered))}: the external_url "
                "(an http(s) URL) and every host must be under it, or the cookie would never be sent back"
            )
        self.cookie_domain = domain
        return self

    @property
    def own_services(self) -> bool:
        """Whether the app has services of its own (authgate/wiring/apps.py), else the global ones."""
        fields = (self.client_id, self.header_auth, self.header_auth_audiences, self.basic_auth_enabled)
        more = (self.session_ttl, self.authentik_provider_name, self.authentik_app_slug, self.cookie_domain)
        return any(v is not None for v in (*fields, *more))

    def own_client(self, default_scopes: str) -> AppClient | None:
        """The app's own client, or None (it uses the global one). Call after the secret file is read."""
        if not (self.issuer and self.client_id):
            return None
        scopes = tuple((self.scopes or default_scopes).split())
        return AppClient(self.issuer, self.client_id, self.client_secret or "", scopes)

    @field_validator("host")
    @classmethod
    def _bare_hosts(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("names no host")
        hosts = []
        for name in names:
            host = name.strip().lower().rstrip(".")
            bare = host[2:] if host.startswith("*.") else host
            if not _BARE_HOST.match(bare) or "*" in bare:
                raise ValueError(
                    f"{name!r} must be a bare host name like `app.example.com` or `*.example.com` "
                    "(no scheme, port or path)"
                )
            hosts.append(host)
        return hosts[0] if isinstance(value, str) else hosts

    @field_validator("skip_auth", "skip_auth_url")
    @classmethod
    def _skip_regexes(cls, value: list[str]) -> list[str]:
        for rule in value:
            _compiles(split_skip_rule(rule)[1])
        return value

    @model_validator(mode="before")
    @classmethod
    def _short_and_long(cls, data: Any) -> Any:
        """``allowed_groups`` (the short form's name) is ``groups``: one of the two, not both."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in SHORT:
            if key in data and f"allowed_{key}" in data:
                raise ValueError(f"both `{key}` and `allowed_{key}` are set: they are one setting, keep one")
            if f"allowed_{key}" in data:
                data[key] = data.pop(f"allowed_{key}")
        return data

    @property
    def hosts(self) -> list[str]:
        return [self.host] if isinstance(self.host, str) else self.host
