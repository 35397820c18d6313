"""Authentik's proxy providers as authgate's apps: one ``ProxyOutpostConfig`` becomes one host entry.

Pure logic. What the API answers (``GET /api/v3/outposts/proxy/``, Authentik's
``ProxyOutpostConfigSerializer``) is read into a ``Provider``; ``app_rule`` turns it into the rules
file's ``AppRule`` (its host, its own client, its public paths, its header auth), and ``merge`` lays
the rules file over the providers: an entry for a provider's host adds its rules to that app, an
entry for another host is an app of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authgate.config.rules import AppRule, split_skip_rule

#: The modes authgate serves: it answers forward-auth checks; it is no reverse proxy (``proxy``).
SERVED_MODES = ("forward_single", "forward_domain")


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
        )


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


def app_rule(p: Provider, *, host_browser: str = "") -> AppRule:
    """The host entry of a served provider: its host, its own client and scopes, its public paths,
    its header auth (Authentik's *intercept header auth*: Bearer and Basic, or neither)."""
    scopes = list(p.scopes)
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return AppRule.model_construct(
        host=p.host,
        issuer=browser_issuer(p.issuer, host_browser),
        client_id=p.client_id,
        client_secret=p.client_secret,
        scopes=" ".join(scopes),
        skip_auth=skip_rules(p.skip_path_regex)[0],
        header_auth=["bearer", "basic"] if p.intercept_header_auth else [],
    )  # every other field: its default (model_construct fills them in)


def merge(providers: Iterable[AppRule], file_rules: Iterable[AppRule]) -> list[AppRule]:
    """The apps in force: the rules file's entries over the providers'. A file entry for a
    provider's host (and no client of its own) adds its allow-lists, path rules and public paths
    to that provider's app; one that names its own client wins; any other is an app of its own."""
    by_host = {rule.hosts[0]: rule for rule in providers}
    out: list[AppRule] = []
    taken: set[str] = set()
    for rule in file_rules:
        matched = [h for h in rule.hosts if h in by_host]
        if not matched or rule.issuer:
            taken.update(matched)
            out.append(rule)
            continue
        for host in matched:
            p = by_host[host]
            update: dict[str, Any] = {
                "host": host,
                "issuer": p.issuer,
                "client_id": p.client_id,
                "client_secret": p.client_secret,
                "scopes": p.scopes,
                "skip_auth": [*p.skip_auth, *rule.skip_auth],
                "header_auth": p.header_auth if rule.header_auth is None else rule.header_auth,
            }
            out.append(rule.model_copy(update=update))
            taken.add(host)
        rest = [h for h in rule.hosts if h not in by_host]
        if rest:
            out.append(rule.model_copy(update={"host": rest}))
    out += [rule for host, rule in by_host.items() if host not in taken]
    return out
