"""Identity headers: which names, which values, and how values are made safe.

Pure logic: no I/O. Values are UTF-8 bytes sent as they are (as Authentik's own outpost
does), with every control character (CR, LF, NUL, DEL ...) replaced by a space and each value
cut at ``MAX_VALUE_BYTES`` on a character boundary, so a claim can never split or add a header.
Header names are lower-case bytes, ready for a raw ASGI response.

A group name holding a header's delimiter (``|`` for ``X-authentik-groups``, ``,`` for the
comma-joined ones) is left out of that header: "ops|admins" must not read as two groups
(entitlements likewise). The ``X-authentik-meta-*`` values describe the deployment (``Meta``);
headers the IdP asks for (Authentik's ``ak_proxy`` claim, checked by ``authgate.access.upstream``) follow the
identity headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from authgate.model import Identity

MAX_VALUE_BYTES = 8192
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Header = tuple[bytes, bytes]


def _spellings(name: str) -> set[str]:
    """Every way to write ``name`` with "_" or "." for some of its "-": what apps read as the same
    header. CGI, WSGI and PHP turn "-" into "_" (oauth2-proxy CVE-2025-64484), and PHP also turns
    "." into "_" in ``$_SERVER`` (Traefik's forwardAuth advisories: the "_" spellings, GHSA-x677-9fxg-v5c5,
    then the "." ones)."""
    out = {""}
    for ch in name:
        out = {p + c for p in out for c in ((ch, "_", ".") if ch == "-" else (ch,))}
    return out


@dataclass(frozen=True, slots=True)
class Meta:
    """What Authentik's outpost says about itself in the ``X-authentik-meta-*`` headers: one value
    per deployment, held in one place (wiring builds it from the settings)."""

    jwks: str = ""  # the IdP's JWKS URL
    outpost: str = ""  # the outpost's name
    provider: str = ""  # the provider's name
    app: str = ""  # the application's slug
    version: str = ""  # "<product>/<version>", as Authentik's "goauthentik.io/outpost/<version>"


NO_META = Meta()

# Each header set: its headers, as written in proxy configurations (authResponseHeaders ...),
# each with what it carries; "groups" and "entitlements" are joined with the set's delimiter.
# The authentik set is the one Authentik's outpost sends, in its order, names and casing.
_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "authentik": (
        ("X-authentik-username", "username"),
        ("X-authentik-groups", "groups"),
        ("X-authentik-entitlements", "entitlements"),
        ("X-authentik-email", "email"),
        ("X-authentik-name", "name"),
        ("X-authentik-uid", "sub"),
        ("X-authentik-jwt", "jwt"),
        ("X-authentik-meta-jwks", "meta-jwks"),
        ("X-authentik-meta-outpost", "meta-outpost"),
        ("X-authentik-meta-provider", "meta-provider"),
        ("X-authentik-meta-app", "meta-app"),
        ("X-authentik-meta-version", "meta-version"),
    ),
    "oauth2-proxy": (
        ("X-Auth-Request-User", "username"),
        ("X-Auth-Request-Email", "email"),
        ("X-Auth-Request-Groups", "groups"),
        ("X-Auth-Request-Preferred-Username", "username"),
    ),
    "authelia": (
        ("Remote-User", "username"),
        ("Remote-Groups", "groups"),
        ("Remote-Name", "name"),
        ("Remote-Email", "email"),
    ),
}
GROUP_DELIMITERS = {"authentik": "|", "oauth2-proxy": ",", "authelia": ","}
#: The names each header set emits: the one list of them (config, docs and recipes' tests read it).
HEADER_SETS: dict[str, tuple[str, ...]] = {name: tuple(h for h, _ in fields) for name, fields in _SETS.items()}
_WIRE = {name: tuple((h.lower().encode(), what) for h, what in fields) for name, fields in _SETS.items()}
#: Identity headers some forward-auth gateway sends that authgate does not (oauth2-proxy's token).
_OTHER_IDENTITY_HEADERS = ("x-auth-request-access-token",)
# Every name any set may emit (and the others): copies of these sent by a client are never passed on.
ALL_IDENTITY_HEADERS = frozenset(
    [*(h.lower() for names in HEADER_SETS.values() for h in names), *_OTHER_IDENTITY_HEADERS]
)

#: Look-alikes of the identity headers (lower-case, as ASGI servers give names): a client
#: sending one is refused, since a proxy passes it on and the app may read it as the real one.
LOOKALIKE_HEADERS = frozenset(s.encode() for name in ALL_IDENTITY_HEADERS for s in _spellings(name) - {name})
DEFAULT_HEADER_SETS = ("authentik", "oauth2-proxy")


#: Request headers authgate rewrites for the app on every 200: the browser's Cookie header,
#: without authgate's own cookies (docs/security.md: the app never sees a session ticket), and
#: Authorization: the client's own passed back unchanged, or, when the IdP sends HTTP Basic
#: credentials for the app (AUTHGATE_AUTHENTIK_BASIC_AUTH_PASSWORD_ATTRIBUTE), those or none.
REWRITTEN_REQUEST_HEADERS = ("Cookie", "Authorization")


def header_names(header_sets: Iterable[str] = DEFAULT_HEADER_SETS) -> list[str]:
    """Every identity header name the given sets emit."""
    return [name for s in header_sets for name in HEADER_SETS[s]]


def managed_headers(header_sets: Iterable[str] = DEFAULT_HEADER_SETS) -> list[str]:
    """Every header a proxy must take from authgate's 200 onto the request (set, or drop when
    absent): the identity headers and the rewritten Cookie and Authorization."""
    return [*header_names(header_sets), *REWRITTEN_REQUEST_HEADERS]


def safe_value(value: str, limit: int = MAX_VALUE_BYTES) -> bytes:
    """Encode a claim value for a header: no control characters, UTF-8, at most ``limit`` bytes."""
    raw = _CONTROL.sub(" ", value).strip().encode("utf-8", "replace")
    if len(raw) > limit:
        raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")
    return raw


def joined_groups(groups: Iterable[str], delimiter: str) -> str:
    """The groups joined with ``delimiter``, leaving out any group name that holds it."""
    return delimiter.join(g for g in groups if delimiter not in g)


def groups_left_out(groups: Iterable[str], header_sets: Iterable[str]) -> list[str]:
    """The groups (or entitlements) some configured header cannot carry (they hold its delimiter)."""
    delimiters = {GROUP_DELIMITERS[s] for s in header_sets if s in GROUP_DELIMITERS}
    return [g for g in groups if any(d in g for d in delimiters)]


def identity_headers(
    identity: Identity,
    access_token: str,
    header_sets: Iterable[str],
    meta: Meta = NO_META,
    upstream: Sequence[tuple[str, str]] = (),
) -> list[Header]:
    """The identity headers for one signed-in user, for the configured header sets, then the
    headers the IdP asked for (``upstream``: already checked by ``authgate.access.upstream``)."""
    values = {
        "username": safe_value(identity.username),
        "email": safe_value(identity.email),
        "name": safe_value(identity.name),
        "sub": safe_value(identity.sub),
        "jwt": safe_value(access_token, 65536),
        "meta-jwks": safe_value(meta.jwks),
        "meta-outpost": safe_value(meta.outpost),
        "meta-provider": safe_value(meta.provider),
        "meta-app": safe_value(meta.app),
        "meta-version": safe_value(meta.version),
    }
    out: list[Header] = []
    for header_set in header_sets:
        if header_set not in _WIRE:
            continue  # the configuration refuses unknown sets; emit nothing for one regardless
        delimiter = GROUP_DELIMITERS[header_set]
        values["groups"] = safe_value(joined_groups(identity.groups, delimiter))
        values["entitlements"] = safe_value(joined_groups(identity.entitlements, delimiter))
        out += [(name, values[what]) for name, what in _WIRE[header_set]]
    out += [(name.lower().encode(), safe_value(value)) for name, value in upstream]
    # An empty value says nothing: the proxies drop a client's copy of a header authgate does not send.
    return [(name, value) for name, value in out if value]
