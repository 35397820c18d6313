"""The wiring: one object holding every service, built once at startup from the settings."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx

from app.config import Settings
from app.forwarded import TrustedProxies
from app.login import LoginService
from app.lru import ByteLRU
from app.oidc import OIDCClient
from app.policy import AccessRule, Policy, build_policy
from app.session_cache import SessionCache
from app.sessions import SessionService
from app.store import Store, open_store
from app.tickets import Ticket, TicketSigner
from app.types import SessionData
from app.web.cookies import cookie_values, without

log = logging.getLogger("authgate")

#: A Cookie header longer than this is not searched for tickets (its owner is not signed in):
#: browsers send far less (nginx refuses a header line over 8 KB by default), and reading one is
#: work a client must not be able to multiply.
MAX_COOKIE_HEADER = 32768
#: Session cookie values verified per request (a host and a domain cookie, a stale copy ...).
MAX_TICKETS = 4
_COOKIE_VIEWS_BUDGET = 8 * 1024 * 1024  # characters of remembered Cookie headers
_REMEMBERED_COOKIE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class CookieView:
    """What authgate makes of one Cookie header: the verified session tickets in it, and the
    header without authgate's own cookies (what the app may see), as bytes ready to send."""

    tickets: tuple[Ticket, ...]
    forward: bytes


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
    _views: ByteLRU[CookieView] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._views = ByteLRU(_COOKIE_VIEWS_BUDGET, max_key=_REMEMBERED_COOKIE_LENGTH)

    def cookies(self, cookie_header: str) -> CookieView:
        """The view of a Cookie header, remembered per exact header: a browser sends the same one
        request after request, and the answer depends only on it and the keys read at startup
        (a forged value is remembered as no ticket). Bounded in bytes."""
        view = self._views.get(cookie_header)
        if view is None:
            view = self._view(cookie_header)
            self._views.put(cookie_header, view)
        return view

    def tickets(self, cookie_header: str) -> tuple[Ticket, ...]:
        """The verified session tickets in a Cookie header."""
        return self.cookies(cookie_header).tickets

    def _view(self, cookie_header: str) -> CookieView:
        tickets: tuple[Ticket, ...] = ()
        if len(cookie_header) <= MAX_COOKIE_HEADER:
            values = cookie_values(cookie_header, self.cookie_name, limit=MAX_TICKETS)
            found = (self.signer.loads(v) for v in values)
            tickets = tuple(t for t in found if t is not None)
        forward = without(cookie_header, self.is_our_cookie) if self.cookie_name in cookie_header else cookie_header
        return CookieView(tickets, forward.encode("latin-1"))

    def is_our_cookie(self, name: str) -> bool:
        return name == self.cookie_name or name.startswith(self.login.cookie_prefix)

    def opens(self, data: SessionData, hostname: str) -> bool:
        """Whether a session may open ``hostname``: the host it was signed in on, or in
        domain-level mode any host under the cookie domain (a copied cookie opens nothing else)."""
        scope = data.scope
        if scope.startswith("."):
            return hostname.endswith(scope) or hostname == scope[1:]
        return hostname == scope

    @property
    def prefix(self) -> str:
        return self.settings.path_prefix

    @property
    def cookie_name(self) -> str:
        return self.settings.cookie_name

    def callback_url(self, origin: str) -> str:
        """Where the IdP sends the browser back: the auth host in domain mode, else the app's own host."""
        base = self.settings.external_url.rstrip("/") if self.settings.cookie_domain else origin
        return f"{base}{self.prefix}/callback"

    def start_url(self, origin: str, rd: str | None = None) -> str:
        """The sign-in start for ``origin`` (the auth host in domain mode), returning to ``rd``."""
        base = self.settings.external_url.rstrip("/") if self.settings.cookie_domain else origin
        url = f"{base}{self.prefix}/start"
        return f"{url}?rd={quote(rd, safe='')}" if rd else url

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
                    unverified_email_ok=settings.allow_unverified_email,
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
    login = LoginService(
        store,
        oidc,
        sessions,
        ttl=settings.login_ttl,
        secrets=secret_keys,
        cookie_prefix=settings.cookie_name,
        cookie_domain=settings.cookie_domain,
    )
    policy = build_policy(
        settings.allowed_groups,
        settings.allowed_users,
        settings.allowed_email_domains,
        settings.skip_auth,
        _per_app_rules(settings),
        unverified_email_ok=settings.allow_unverified_email,
    )
    if settings.allowed_email_domains or any(a.allowed_email_domains for a in settings.apps):
        log.info(
            "email-domain rules admit only addresses the IdP marks email_verified: true%s",
            " (AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true: unverified addresses are admitted too)"
            if settings.allow_unverified_email
            else "; set AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true to admit unverified ones",
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
