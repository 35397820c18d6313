"""The wiring: one object holding every service, built once at startup from the settings."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import httpx

from app.config import Settings
from app.forwarded import TrustedProxies
from app.login import LoginService
from app.oidc import OIDCClient
from app.policy import AccessRule, Policy, build_policy
from app.session_cache import SessionCache
from app.sessions import SessionService
from app.store import Store, open_store
from app.tickets import Ticket, TicketSigner
from app.web.cookies import cookie_values

log = logging.getLogger("authgate")

BINDING_COOKIE_SUFFIX = "_login"
_REMEMBERED_COOKIE_HEADERS = 4096
_REMEMBERED_COOKIE_LENGTH = 4096  # characters: at most 16 MiB of remembered headers


@dataclass
class Gateway:
    settings: Settings
    store: Store
    oidc: OIDCClient
    sessions: SessionService
    login: LoginService
    policy: Policy
    signer: TicketSigner
    trusted: TrustedProxies
    _remembered_tickets: Callable[[str], tuple[Ticket, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._remembered_tickets = lru_cache(maxsize=_REMEMBERED_COOKIE_HEADERS)(self._tickets)

    def tickets(self, cookie_header: str) -> tuple[Ticket, ...]:
        """The verified session tickets in a Cookie header.

        A browser sends the same header request after request, so the answer is remembered per
        exact header: it depends only on the header and the keys read at startup. A forged value
        is remembered as no ticket at all. Bounded in count and, by skipping long headers, in size.
        """
        if len(cookie_header) > _REMEMBERED_COOKIE_LENGTH:
            return self._tickets(cookie_header)
        return self._remembered_tickets(cookie_header)

    def _tickets(self, cookie_header: str) -> tuple[Ticket, ...]:
        found = (self.signer.loads(v) for v in cookie_values(cookie_header, self.settings.cookie_name))
        return tuple(t for t in found if t is not None)

    @property
    def prefix(self) -> str:
        return self.settings.path_prefix

    @property
    def cookie_name(self) -> str:
        return self.settings.cookie_name

    @property
    def binding_cookie(self) -> str:
        return self.settings.cookie_name + BINDING_COOKIE_SUFFIX

    def callback_url(self, origin: str) -> str:
        """Where the IdP sends the browser back: the auth host in domain mode, else the app's own host."""
        base = self.settings.external_url.rstrip("/") if self.settings.cookie_domain else origin
        return f"{base}{self.prefix}/callback"

    def start_url(self, origin: str) -> str:
        base = self.settings.external_url.rstrip("/") if self.settings.cookie_domain else origin
        return f"{base}{self.prefix}/start"

    async def aclose(self) -> None:
        await self.oidc.aclose()
        await self.store.close()


def _per_app_rules(settings: Settings) -> list[tuple[str, AccessRule]]:
    rules = []
    for app in settings.apps:
        rules.append(
            (
                app.host.lower(),
                AccessRule.build(
                    settings.allowed_groups if app.allowed_groups is None else app.allowed_groups,
                    settings.allowed_users if app.allowed_users is None else app.allowed_users,
                    settings.allowed_email_domains if app.allowed_email_domains is None else app.allowed_email_domains,
                    [*settings.skip_auth, *app.skip_auth],
                ),
            )
        )
    return rules


def build_gateway(
    settings: Settings, *, store: Store | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> Gateway:
    if store is None:
        store = open_store(settings.redis_url, timeout=settings.store_timeout)
    if not store.shared:
        log.warning(
            "AUTHGATE_REDIS_URL is not set: sessions live in this process only. "
            "Run ONE replica with ONE worker, or set AUTHGATE_REDIS_URL to share sessions."
        )
    secret_keys = settings.secret or [secrets.token_urlsafe(48)]
    if not settings.secret:
        log.warning("AUTHGATE_SECRET is not set (development mode): a random key is used; sessions end on restart")
    oidc = OIDCClient(
        issuer=settings.issuer,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=settings.scope_list,
        backchannel_url=settings.backchannel_url,
        timeout=settings.idp_timeout,
        transport=transport,
    )
    cache = SessionCache(max_age=settings.session_cache_ttl)
    sessions = SessionService(store, oidc, ttl=settings.session_ttl, cache=cache)
    login = LoginService(store, oidc, sessions, ttl=settings.login_ttl)
    policy = build_policy(
        settings.allowed_groups,
        settings.allowed_users,
        settings.allowed_email_domains,
        settings.skip_auth,
        _per_app_rules(settings),
    )
    host = urlsplit(settings.issuer).hostname or "?"
    log.info("authgate ready: issuer host %s, store %s", host, type(store).__name__)
    return Gateway(
        settings,
        store,
        oidc,
        sessions,
        login,
        policy,
        TicketSigner(secret_keys),
        TrustedProxies(settings.trusted_proxies),
    )
