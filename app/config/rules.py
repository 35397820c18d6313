"""The rules file's entries: a host entry (``[[apps]]``) and its path rules, with field checks.

One entry per app: its hosts (exact or ``*.`` wildcards), who may pass, its ordered path rules,
and optionally its own OAuth client at the IdP (``issuer``, ``client_id``, ``client_secret`` ...),
as Authentik gives every application its own provider (docs/operating.md, docs/configuration.md).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

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
    try:
        re.compile(split_skip_rule(value)[1])
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from None
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
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from None
        return value

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


class AppRule(BaseModel):
    """One host entry of the rules file: its hosts, who may pass, and its path rules."""

    model_config = ConfigDict(extra="forbid")

    host: str | list[str]
    groups: list[str] | None = None
    users: list[str] | None = None
    email_domains: list[str] | None = None
    rules: list[PathRuleEntry] = []
    skip_auth: list[str] = []

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

    @field_validator("skip_auth")
    @classmethod
    def _skip_regexes(cls, value: list[str]) -> list[str]:
        for rule in value:
            _compiles(rule)
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
