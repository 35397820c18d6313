"""Checks across settings: what field validation alone cannot see, in words an operator can act on."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from authgate.config.rules import HEADER_AUTH_MODES, AppClient, AppRule, split_skip_rule
from authgate.config.settings import GENERATE_SECRET, HEADER_SET_NAMES, MIN_SECRET_LENGTH, Settings
from authgate.regexes import problem

_HINTS = {
    "ISSUER": ": set it to the IdP's issuer URL, e.g. https://auth.example.com/application/o/<slug>/ "
    "(Authentik: the provider's OpenID Configuration Issuer; it ends with a slash).",
    "EXTERNAL_URL": ": domain-level mode (AUTHGATE_COOKIE_DOMAIN) needs authgate's own public URL, "
    "e.g. https://auth.example.com.",
}


def _check_url(name: str, value: str, problems: list[str], *, required: bool) -> None:
    if not value:
        if required:
            problems.append(f"AUTHGATE_{name} is not set{_HINTS.get(name, '.')}")
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"AUTHGATE_{name}={value!r} is not an absolute http(s) URL.")


REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")


def redis_url_problem(url: str) -> str | None:
    """What is wrong with ``AUTHGATE_REDIS_URL`` (unset: the in-process store), without echoing a
    password: the URL may carry one."""
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    example = "e.g. redis://redis:6379/0 (rediss:// for TLS; redis+sentinel:// and redis+cluster:// also work)"
    if scheme not in REDIS_SCHEMES or ("://" not in url):
        bare = "@" not in url and "?" not in url and "/" not in url
        hint = f" Did you mean redis://{url}/0?" if bare else ""
        return f"AUTHGATE_REDIS_URL is not a Redis URL: it must start with redis:// or rediss://, {example}.{hint}"
    if scheme == "unix":
        return (
            None
            if parts.path
            else "AUTHGATE_REDIS_URL: a unix:// URL needs the socket's path, e.g. unix:///run/redis.sock."
        )
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        return f"AUTHGATE_REDIS_URL names no server: {example}."
    if "+sentinel" not in scheme:  # one host[:port] (Sentinel lists several, checked as it connects)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is no number in range
        except ValueError:
            return f"AUTHGATE_REDIS_URL has a port that is not a number from 1 to 65535: {example}."
        db = parts.path.strip("/")
        if db and not db.isdigit():
            return f"AUTHGATE_REDIS_URL: the path must be a database number (like /0), {example}."
    return None


def app_problems(s: Settings, apps: list[AppRule]) -> list[str]:
    """What the rules file's per-app clients must agree on (checked at startup and on each reload)."""
    problems: list[str] = []
    seen: dict[str, tuple[str, AppClient]] = {}
    for app in apps:
        own = app.own_client(s.scopes)
        if own is None:
            continue
        if s.cookie_domain:
            problems.append(
                f"AUTHGATE_CONFIG: {app.hosts[0]} names its own client, but domain-level mode "
                "(AUTHGATE_COOKIE_DOMAIN) signs every app in with the global client: remove issuer/client_id/"
                "client_secret from the entry, or leave domain-level mode."
            )
        if "openid" not in own.scopes:
            problems.append(f"AUTHGATE_CONFIG: {app.hosts[0]}: scopes {' '.join(own.scopes)!r} lack `openid`.")
        first = seen.setdefault(own.client_id, (app.hosts[0], own))
        if first[1] != own:
            problems.append(
                f"AUTHGATE_CONFIG: {app.hosts[0]} and {first[0]} name client {own.client_id!r} with different "
                "issuer, secret or scopes: one client id, one set of settings."
            )
    return problems


def problems_of(s: Settings) -> list[str]:
    problems: list[str] = app_problems(s, s.apps)
    outpost = s.outpost_mode
    _check_url("ISSUER", s.issuer, problems, required=not outpost)
    _check_url("AUTHENTIK_HOST", s.authentik_host, problems, required=False)
    _check_url("AUTHENTIK_HOST_BROWSER", s.authentik_host_browser, problems, required=False)
    if outpost and not s.authentik_token:
        problems.append(
            "AUTHENTIK_TOKEN is not set: copy the outpost's token from Authentik "
            "(Applications, Outposts, View deployment info)."
        )
    if s.authentik_host_browser and not outpost:
        problems.append("AUTHENTIK_HOST_BROWSER is set without AUTHENTIK_HOST: set both, or neither.")
    if outpost and s.cookie_domain:
        problems.append(
            "AUTHGATE_COOKIE_DOMAIN is set in outpost mode: each proxy provider says its own mode and cookie "
            "domain in Authentik; unset AUTHGATE_COOKIE_DOMAIN."
        )
    _check_url("BACKCHANNEL_URL", s.backchannel_url, problems, required=False)
    _check_url("EXTERNAL_URL", s.external_url, problems, required=bool(s.cookie_domain))
    if (redis := redis_url_problem(s.redis_url)) is not None:
        problems.append(redis)
    if not s.client_id and not outpost:
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
    for mode in s.header_auth:
        if mode.lower() not in HEADER_AUTH_MODES:
            problems.append(f"AUTHGATE_HEADER_AUTH: unknown mode {mode!r} (known: {', '.join(HEADER_AUTH_MODES)}).")
    if s.header_auth_audiences and "bearer" not in (m.lower() for m in s.header_auth):
        problems.append("AUTHGATE_HEADER_AUTH_AUDIENCES is set but AUTHGATE_HEADER_AUTH does not include `bearer`.")
    for cidr in s.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"AUTHGATE_TRUSTED_PROXIES: {cidr!r} is not an IP address or CIDR.")
    for rule in s.skip_auth:  # the rules file's are checked as it is read (authgate/config/sources.py)
        why = problem(split_skip_rule(rule)[1])
        if why is not None:
            problems.append(f"AUTHGATE_SKIP_AUTH: {rule!r}: {why}.")
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
    if s.session_idle_ttl < 0:
        problems.append("AUTHGATE_SESSION_IDLE_TTL must be 0 (no idle timeout) or a positive number of seconds.")
    elif 0 < s.session_idle_ttl <= 2 * s.session_cache_ttl:
        problems.append(
            f"AUTHGATE_SESSION_IDLE_TTL={s.session_idle_ttl:g} must be more than twice "
            f"AUTHGATE_SESSION_CACHE_TTL={s.session_cache_ttl:g}: a cached session is re-read (and its idle "
            "deadline pushed out) only once the cache entry lapses."
        )
    if s.store_timeout <= 0 or s.idp_timeout <= 0:
        problems.append("AUTHGATE_STORE_TIMEOUT and AUTHGATE_IDP_TIMEOUT must be positive.")
    return problems
