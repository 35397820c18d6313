"""What a rule says of a request: ``Public``, ``Deny``, or who may pass (``AccessRule``, ``AllOf``).

Pure logic: no I/O. An ``AccessRule`` holds the allow-lists of a host or a path rule (groups, users,
email domains, networks) and says in words why an identity may not pass; authgate/access/policy.py
picks which rule applies to a request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from authgate.access import refusals
from authgate.model import Identity

# One address, one "@": a local part with no "@", space or control character, and a domain of
# dot-separated labels. Anything else ("a@b@corp.test", "@corp.test") never matches a domain.
_EMAIL = re.compile(
    r"[^@\s\x00-\x1f\x7f]+@((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)", re.I
)
#: Entries of ALLOWED_USERS with this prefix match the subject (``sub``) only.
SUB_PREFIX = "sub:"
GLOBAL = "the global rule (AUTHGATE_ALLOWED_*)"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Public:
    """Open to anyone: 200 without a session."""

    name: str


@dataclass(frozen=True, slots=True)
class Deny:
    """Closed to everyone: 403 without a session."""

    name: str


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Who may pass: allow-lists (an empty one means no restriction on that attribute) and,
    when ``networks`` is set, only from a client address in one of them."""

    groups: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    email_domains: tuple[str, ...] = ()
    subjects: frozenset[str] = frozenset()  # ALLOWED_USERS entries written ``sub:<subject>``
    unverified_email_ok: bool = False
    name: str = GLOBAL
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls,
        groups: Iterable[str] = (),
        users: Iterable[str] = (),
        email_domains: Iterable[str] = (),
        *,
        unverified_email_ok: bool = False,
        name: str = GLOBAL,
        networks: Iterable[str] = (),
    ) -> AccessRule:
        users = list(users)
        return cls(
            frozenset(groups),
            frozenset(u for u in users if not u.startswith(SUB_PREFIX)),
            tuple(d.lower().lstrip("@") for d in email_domains),
            frozenset(u[len(SUB_PREFIX) :] for u in users if u.startswith(SUB_PREFIX)),
            unverified_email_ok,
            name,
            tuple(ipaddress.ip_network(n, strict=False) for n in networks),
        )

    def allows(self, identity: Identity) -> bool:
        return self.refusal(identity) is None

    def refusal(self, identity: Identity, ip: str = "") -> str | None:
        """Why ``identity`` (from ``ip``, "" when unknown) may not pass, in words for the person and
        the log; None when it may. An unknown address is in no network."""
        if self.networks and not _in_networks(ip, self.networks):
            return refusals.outside_networks(ip)
        if self.groups and not self.groups.intersection(identity.groups):
            return refusals.not_in_groups(self.groups)
        if (self.users or self.subjects) and not (
            identity.username in self.users or identity.sub in self.users or identity.sub in self.subjects
        ):
            return refusals.NOT_LISTED
        if self.email_domains:
            match = _EMAIL.fullmatch(identity.email)
            if match is None or match.group(1).lower() not in self.email_domains:
                return refusals.not_in_domains(self.email_domains)
            if not identity.email_verified and not self.unverified_email_ok:
                return refusals.unverified_email(identity.email)
        return None


@dataclass(frozen=True, slots=True)
class AllOf:
    """An ambiguous path read several ways: the allow rule of every reading must admit the user
    (the strictest wins)."""

    rules: tuple[AccessRule, ...]
    name: str
    networks: tuple[IPNetwork, ...]

    def refusal(self, identity: Identity, ip: str) -> str | None:
        return next((why for rule in self.rules if (why := rule.refusal(identity, ip)) is not None), None)


Verdict = Public | Deny | AccessRule | AllOf


def _in_networks(ip: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)
