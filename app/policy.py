"""Who may pass, and which routes are public (ALLOWED_*, SKIP_AUTH, per-app rules).

Pure logic: no I/O. Rules are compiled once; ``Policy.for_request`` picks the per-app rule of the
rules file when one names the host, else the global one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config.settings import split_skip_rule
from app.paths import app_path
from app.types import Identity, OriginalRequest

if TYPE_CHECKING:
    from app.config.settings import Settings

# One address, one "@": a local part with no "@", space or control character, and a domain of
# dot-separated labels. Anything else ("a@b@corp.test", "@corp.test") never matches a domain.
_EMAIL = re.compile(
    r"[^@\s\x00-\x1f\x7f]+@((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)", re.I
)
#: Entries of ALLOWED_USERS with this prefix match the subject (``sub``) only.
SUB_PREFIX = "sub:"

UNVERIFIED_EMAIL = (
    "your email address {email} is not marked as verified by the identity provider "
    "(its email_verified claim is not true), and this application admits people by email domain. "
    "An administrator can fix this: have the identity provider send email_verified: true for addresses "
    "it trusts (in Authentik 2025.10 and later, a scope mapping for the email scope), "
    "or set AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true"
)


@dataclass(frozen=True, slots=True)
class SkipRule:
    method: str | None
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, rule: str) -> SkipRule:
        method, pattern = split_skip_rule(rule)
        return cls(method, re.compile(pattern))

    def matches(self, method: str, path: str) -> bool:
        """``method`` is "" when the proxy did not say it: then only a method-less rule can match."""
        return (self.method is None or self.method == method) and self.pattern.search(path) is not None


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Allow-lists; an empty list means "no restriction on this attribute"."""

    groups: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    email_domains: tuple[str, ...] = ()
    skip: tuple[SkipRule, ...] = ()
    subjects: frozenset[str] = frozenset()  # ALLOWED_USERS entries written ``sub:<subject>``
    unverified_email_ok: bool = False

    @classmethod
    def build(
        cls,
        groups: Iterable[str] = (),
        users: Iterable[str] = (),
        email_domains: Iterable[str] = (),
        skip: Iterable[str] = (),
        *,
        unverified_email_ok: bool = False,
    ) -> AccessRule:
        users = list(users)
        return cls(
            frozenset(groups),
            frozenset(u for u in users if not u.startswith(SUB_PREFIX)),
            tuple(d.lower().lstrip("@") for d in email_domains),
            tuple(SkipRule.parse(r) for r in skip),
            frozenset(u[len(SUB_PREFIX) :] for u in users if u.startswith(SUB_PREFIX)),
            unverified_email_ok,
        )

    def is_public(self, method: str, path: str) -> bool:
        """Whether a skip rule opens ``path`` (as sent); rules see the path decoded once, as the
        app does, and an ambiguous path (``app.paths``) is never public."""
        if not self.skip:
            return False
        decoded = app_path(path)
        if decoded is None:
            return False  # fail closed: what the app resolves it to is unknown
        return any(rule.matches(method, decoded) for rule in self.skip)

    def allows(self, identity: Identity) -> bool:
        return self.refusal(identity) is None

    def refusal(self, identity: Identity) -> str | None:
        """Why ``identity`` may not pass, in words for the person and the log; None when it may."""
        if self.groups and not self.groups.intersection(identity.groups):
            return "this account is in none of the groups this application admits"
        if (self.users or self.subjects) and not (
            identity.username in self.users or identity.sub in self.users or identity.sub in self.subjects
        ):
            return "this account is not on the list of users this application admits"
        if self.email_domains:
            match = _EMAIL.fullmatch(identity.email)
            if match is None or match.group(1).lower() not in self.email_domains:
                return "this account's email address is not in a domain this application admits"
            if not identity.email_verified and not self.unverified_email_ok:
                return UNVERIFIED_EMAIL.format(email=identity.email)
        return None


class Policy:
    """The global rule plus per-host overrides."""

    def __init__(self, default: AccessRule, per_host: dict[str, AccessRule] | None = None) -> None:
        self.default = default
        self.per_host = {h.lower(): r for h, r in (per_host or {}).items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The global rule from ``AUTHGATE_ALLOWED_*`` / ``SKIP_AUTH``, and one rule per app of the
        rules file: an app's own lists replace the global ones; its skip rules add to them."""
        s = settings
        unverified_ok = s.allow_unverified_email
        default = AccessRule.build(
            s.allowed_groups, s.allowed_users, s.allowed_email_domains, s.skip_auth, unverified_email_ok=unverified_ok
        )
        per_host = {
            app.host: AccessRule.build(
                s.allowed_groups if app.allowed_groups is None else app.allowed_groups,
                s.allowed_users if app.allowed_users is None else app.allowed_users,
                s.allowed_email_domains if app.allowed_email_domains is None else app.allowed_email_domains,
                [*s.skip_auth, *app.skip_auth],
                unverified_email_ok=unverified_ok,
            )
            for app in s.apps
        }
        return cls(default, per_host)

    def for_host(self, hostname: str) -> AccessRule:
        if not self.per_host:
            return self.default
        return self.per_host.get(hostname, self.default)

    def for_request(self, request: OriginalRequest) -> AccessRule:
        # Without per-app rules there is no need to take the host apart (the hot path asks).
        return self.for_host(request.hostname) if self.per_host else self.default
