"""Authentik's proxy providers as authgate's apps: one ``ProxyOutpostConfig`` becomes one host entry.

Pure logic. What the API answers (``GET /api/v3/outposts/proxy/``, Authentik's
``ProxyOutpostConfigSerializer``) is read into a ``Provider``; ``app_rule`` turns it into the rules
file's ``AppRule`` (its hosts, its own client, its public paths, its header auth, its HTTP Basic
attributes, its session lifetime, its meta names; a ``forward_domain`` provider: every host under its
cookie domain, signed in at its external host), and ``merge`` lays the rules file over the
providers: an entry for a provider's host adds its rules to that app, an entry for a host under a
``forward_domain`` provider's cookie domain is signed in by that provider, an entry for another host
is an app of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authgate.config.rules import AppRule, covers, split_skip_rule

#: The modes authgate serves: it answers forward-auth checks; it is no reverse proxy (``proxy``).
SERVED_MODES = ("forward_single", "forward_domain")
_DOMAIN = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


@dataclass(frozen=True, slots=True)
class Provider:
    """What authgate reads of one proxy provider assigned to the outpost."""

    pk: int
    name: str
    external_host: str
    mode: str
    client_id: str
    client_secret: str
    issuer: str  # as Authentik built it (from the Host of the API request)
    signing_algs: tuple[str, ...]
    scopes: tuple[str, ...]
    skip_path_regex: str
    intercept_header_auth: bool
    cookie_domain: str
    basic_auth_enabled: bool
    app_slug: str
    app_name: str
    basic_auth_user_attribute: str = ""
    basic_auth_password_attribute: str = ""
    access_token_validity: float | None = None  # seconds, as the serializer sends it

    @property
    def domain(self) -> str:
        """A ``forward_domain`` provider's cookie domain, bare and lower-case; "" when it serves its
        external host only: another mode, or a cookie domain that is no domain or does not cover the
        external host (the cookie set at its callback would never be sent back)."""
        domain = self.cookie_domain.strip().lower().lstrip(".")
        if self.mode != "forward_domain" or not _DOMAIN.match(domain) or not covers(domain, self.host):
            return ""
        return domain

    @property
    def hosts(self) -> list[str]:
        """The hosts it serves: its external host, and in ``forward_domain`` mode every host under
        its cookie domain (the domain itself included, as the outpost matches it)."""
        domain = self.domain
        extra = [f"*.{domain}", domain] if domain else []
        return [self.host, *(h for h in extra if h != self.host)]

    @property
    def session_ttl(self) -> int | None:
        """``access_token_validity`` in whole seconds: how long the outpost's session cookie lasts
        (it adds one second only so that 0 never means a browser-session cookie); None when unset."""
        v = self.access_token_validity
        return math.ceil(v) if v is not None and math.isfinite(v) and v > 0 else None

    @property
    def host(self) -> str:
        """The app's host: ``external_host``'s, without port (the proxy's Host decides, port aside)."""
        return (urlsplit(self.external_host).hostname or "").lower()

    @property
    def served(self) -> bool:
        return self.mode in SERVED_MODES

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Provider:
        """One entry of the API's ``results``; ``ValueError`` naming what is missing or malformed."""
        oidc = data.get("oidc_configuration")
        if not isinstance(oidc, Mapping):
            raise ValueError("no oidc_configuration")
        for name in ("client_id", "client_secret", "external_host"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ValueError(f"no {name}")
        if not isinstance(oidc.get("issuer"), str):
            raise ValueError("no oidc_configuration.issuer")
        external = str(data["external_host"])
        if urlsplit(external).scheme not in ("http", "https") or not urlsplit(external).hostname:
            raise ValueError(f"external_host {external!r} is not an http(s) URL")
        return cls(
            pk=int(data.get("pk") or 0),
            name=str(data.get("name") or ""),
            external_host=external.rstrip("/"),
            mode=str(data.get("mode") or "proxy"),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            issuer=str(oidc["issuer"]),
            signing_algs=tuple(str(a) for a in oidc.get("id_token_signing_alg_values_supported") or ()),
            scopes=tuple(str(s) for s in data.get("scopes_to_request") or ()),
            skip_path_regex=str(data.get("skip_path_regex") or ""),
            intercept_header_auth=bool(data.get("intercept_header_auth", True)),
            cookie_domain=str(data.get("cookie_domain") or ""),
            basic_auth_enabled=bool(data.get("basic_auth_enabled")),
            app_slug=str(data.get("assigned_application_slug") or ""),
            app_name=str(data.get("assigned_application_name") or ""),
            basic_auth_user_attribute=str(data.get("basic_auth_user_attribute") or ""),
            basic_auth_password_attribute=str(data.get("basic_auth_password_attribute") or ""),
            access_token_validity=_seconds(data.get("access_token_validity")),
        )


def _seconds(value: Any) -> float | None:
    """A number of seconds (the serializer's float, or None); anything else is None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def browser_issuer(issuer: str, host_browser: str) -> str:
    """The issuer browsers and tokens know: Authentik's, on ``AUTHENTIK_HOST_BROWSER``'s scheme and
    host when set (as the outpost does: tokens then carry the browser's host, since the token and
    discovery requests go to ``AUTHENTIK_HOST`` with the browser's ``Host`` header)."""
    if not host_browser:
        return issuer
    browser, parts = urlsplit(host_browser), urlsplit(issuer)
    return urlunsplit((browser.scheme, browser.netloc, parts.path, parts.query, parts.fragment))


def skip_rules(regexes: str) -> tuple[list[str], list[str]]:
    """``skip_path_regex`` (one regex per line) as public-route rules, and the lines left out (they
    do not compile here; the outpost leaves them out too). A line that reads like ``METHOD=regex``
    is kept whole: an empty group in front keeps it from being taken for a method."""
    rules: list[str] = []
    bad: list[str] = []
    for line in regexes.splitlines():
        if not line.strip():
            continue
        try:
            re.compile(line)
        except re.error:
            bad.append(line)
            continue
        rules.append(f"(?:){line}" if split_skip_rule(line)[0] is not None else line)
    return rules, bad


def path_anchored(p: Provider) -> list[str]:
    """A ``forward_domain`` provider's ``skip_path_regex`` lines that start with ``^/``: matched on
    the whole URL (``scheme://host/path``), they never match, at Authentik's outpost either."""
    if p.mode != "forward_domain":
        return []
    return [line for line in skip_rules(p.skip_path_regex)[0] if line.startswith("^/")]


def path_anchored_warning(p: Provider, line: str) -> str:
    """What ``authgate check`` and the log say of a ``path_anchored`` line."""
    return (
        f"provider {p.name!r}: skip_path_regex line {line!r} is anchored to a path, but in forward_domain mode "
        "it is matched on the whole URL (scheme://host/path): it never matches, here as at Authentik's outpost"
    )


def app_rule(p: Provider, *, host_browser: str = "", outpost_name: str = "") -> AppRule:
    """The host entry of a served provider: its hosts, its own client and scopes, its public paths,
    its header auth (Authentik's *intercept header auth*: Bearer and Basic, or neither), its HTTP
    Basic credentials (on or off: the provider decides, not AUTHGATE_AUTHENTIK_BASIC_AUTH_*), its
    session lifetime, its name for X-authentik-meta-provider (and the outpost's, ``outpost_name``, for
    X-authentik-meta-outpost), and in ``forward_domain`` mode its
    cookie domain, with sign-ins at its external host."""
    scopes = list(p.scopes)
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    basic = p.basic_auth_enabled and bool(p.basic_auth_password_attribute)
    domain = p.domain
    public = skip_rules(p.skip_path_regex)[0]
    on_url = p.mode == "forward_domain"  # the outpost matches them on the path, or in this mode on the URL
    return AppRule.model_construct(
        host=p.hosts,
        issuer=browser_issuer(p.issuer, host_browser),
        client_id=p.client_id,
        client_secret=p.client_secret,
        scopes=" ".join(scopes),
        skip_auth=[] if on_url else public,
        skip_auth_url=public if on_url else [],
        header_auth=["bearer", "basic"] if p.intercept_header_auth else [],
        basic_auth_enabled=basic,
        basic_auth_user_attribute=p.basic_auth_user_attribute if basic else None,
        basic_auth_password_attribute=p.basic_auth_password_attribute if basic else None,
        session_ttl=p.session_ttl,
        authentik_provider_name=p.name or None,
        authentik_app_slug=p.app_slug or None,
        authentik_outpost_name=outpost_name or None,
        cookie_domain=domain or None,
        external_url=p.external_host if domain else None,
    )  # every other field: its default (model_construct fills them in)


#: What a rules-file entry takes of the provider whose host it names (unless it says its own).
_TAKEN = (
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "basic_auth_enabled",
    "basic_auth_user_attribute",
    "basic_auth_password_attribute",
    "session_ttl",
    "authentik_provider_name",
    "authentik_app_slug",
    "authentik_outpost_name",
    "cookie_domain",
    "external_url",
)


def merge(providers: Iterable[AppRule], file_rules: Iterable[AppRule]) -> list[AppRule]:
    """The apps in force: the rules file's entries over the providers'. A file entry for a
    provider's host (and no client of its own) adds its allow-lists, path rules and public paths
    to that provider's app, all its hosts included; one for a host under a ``forward_domain``
    provider's cookie domain is signed in by that provider (an exact host beats its wildcard);
    one that names its own client wins; any other is an app of its own."""
    provider_list = list(providers)
    by_host = {rule.hosts[0]: rule for rule in provider_list}
    # The longest cookie domain first, as the outpost picks the longest match.
    domains = sorted(((r.cookie_domain, r) for r in provider_list if r.cookie_domain), key=lambda d: -len(d[0]))
    out: list[AppRule] = []
    taken: set[str] = set()
    for rule in file_rules:
        if rule.issuer:
            taken.update(h for h in rule.hosts if h in by_host)
            out.append(rule)
            continue
        rest = []
        for host in rule.hosts:
            p = by_host.get(host) or next((r for domain, r in domains if covers(domain, host)), None)
            if p is None:
                rest.append(host)
                continue
            whole = p.hosts[0] == host  # the provider's own host: the entry is its whole app
            update: dict[str, Any] = {name: _own(rule, p, name) for name in _TAKEN}
            update |= {
                "host": p.hosts if whole else host,
                "skip_auth": [*p.skip_auth, *rule.skip_auth],
                "skip_auth_url": [*p.skip_auth_url, *rule.skip_auth_url],
                "header_auth": p.header_auth if rule.header_auth is None else rule.header_auth,
            }
            out.append(rule.model_copy(update=update))
            if whole:
                taken.add(host)
        if rest:
            out.append(rule.model_copy(update={"host": rest}))
    # Providers first: an entry of the file for one of their hosts (a wildcard) is read after, and wins.
    return [rule for host, rule in by_host.items() if host not in taken] + out


def _own(rule: AppRule, provider: AppRule, name: str) -> Any:
    """The file entry's value of ``name`` when it sets one (never its client: an entry that names
    one is an app of its own), else the provider's."""
    mine = getattr(rule, name)
    return getattr(provider, name) if mine is None else mine
