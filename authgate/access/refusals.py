"""The words of a refusal: what would admit, said plainly to the person refused (the 403 page) and
in the log. Pure text: the names come from the operator's rules, never from the request."""

from __future__ import annotations

from collections.abc import Iterable

UNVERIFIED_EMAIL = (
    "your email address {email} is not marked as verified by the identity provider "
    "(its email_verified claim is not true), and this application admits people by email domain. "
    "An administrator can fix this: have the identity provider send email_verified: true for addresses "
    "it trusts (in Authentik 2025.10 and later, a scope mapping for the email scope), "
    "or set AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true"
)
OUTSIDE_NETWORKS = "this address ({ip}) is not in a network this part of the application admits"
# The users' names are not shown: one person's 403 page would list the others.
NOT_LISTED = "only the users this application lists by name may open it, and this account is not one of them"


def either(names: Iterable[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    items = list(names)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def not_in_groups(groups: Iterable[str]) -> str:
    names = sorted(groups)
    noun = "the groups" if len(names) > 1 else "the group"
    return f"only members of {noun} {either(names)} may open this application"


def not_in_domains(domains: Iterable[str]) -> str:
    return f"only accounts with an email address at {either(domains)} may open this application"


def unverified_email(email: str) -> str:
    return UNVERIFIED_EMAIL.format(email=email)


def outside_networks(ip: str) -> str:
    return OUTSIDE_NETWORKS.format(ip=ip or "unknown")
