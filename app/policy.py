"""Who may pass, and which routes are public (SPEC 3: ALLOWED_*, SKIP_AUTH, per-app rules).

Pure logic: no I/O. Rules are compiled once; ``Policy.for_request`` picks the per-app rule of the
rules file when one names the host, else the global one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.types import Identity, OriginalRequest

_METHOD_RULE = re.compile(r"^([A-Z]+)=(.*)$", re.S)
# A "." or ".." segment, also percent-encoded or with an encoded slash: the app behind the proxy
# may resolve it, so "/public/../admin" must never count as public.
_DOT_SEGMENT = re.compile(r"(?:^|/|%2f|\\)(?:\.|%2e){1,2}(?:$|/|%2f|\\|\?)", re.I)


def has_dot_segment(path: str) -> bool:
    return _DOT_SEGMENT.search(path) is not None


@dataclass(frozen=True, slots=True)
class SkipRule:
    method: str | None
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, rule: str) -> SkipRule:
        m = _METHOD_RULE.match(rule)
        if m:
            return cls(m.group(1), re.compile(m.group(2)))
        return cls(None, re.compile(rule))

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.pattern.search(path) is not None


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Allow-lists; an empty list means "no restriction on this attribute"."""

    groups: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    email_domains: tuple[str, ...] = ()
    skip: tuple[SkipRule, ...] = ()

    @classmethod
    def build(
        cls,
        groups: Iterable[str] = (),
        users: Iterable[str] = (),
        email_domains: Iterable[str] = (),
        skip: Iterable[str] = (),
    ) -> AccessRule:
        return cls(
            frozenset(groups),
            frozenset(users),
            tuple(d.lower().lstrip("@") for d in email_domains),
            tuple(SkipRule.parse(r) for r in skip),
        )

    def is_public(self, method: str, path: str) -> bool:
        if has_dot_segment(path):
            return False  # fail closed: what the app resolves it to is unknown
        return any(rule.matches(method, path) for rule in self.skip)

    def allows(self, identity: Identity) -> bool:
        if self.groups and not self.groups.intersection(identity.groups):
            return False
        if self.users and identity.username not in self.users and identity.sub not in self.users:
            return False
        if self.email_domains:
            local, at, domain = identity.email.lower().rpartition("@")
            if not (local and at and domain) or domain not in self.email_domains:
                return False
        return True


class Policy:
    """The global rule plus per-host overrides."""

    def __init__(self, default: AccessRule, per_host: dict[str, AccessRule] | None = None) -> None:
        self.default = default
        self.per_host = {h.lower(): r for h, r in (per_host or {}).items()}

    def for_host(self, hostname: str) -> AccessRule:
        if not self.per_host:
            return self.default
        return self.per_host.get(hostname, self.default)

    def for_request(self, request: OriginalRequest) -> AccessRule:
        # Without per-app rules there is no need to take the host apart (the hot path asks).
        return self.for_host(request.hostname) if self.per_host else self.default


def build_policy(
    groups: Sequence[str],
    users: Sequence[str],
    email_domains: Sequence[str],
    skip: Sequence[str],
    apps: Iterable[tuple[str, AccessRule]] = (),
) -> Policy:
    return Policy(AccessRule.build(groups, users, email_domains, skip), dict(apps))
