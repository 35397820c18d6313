"""The wiring: every service built once at startup from the settings, held by one ``Gateway``.

The composition root: the only module that reads ``Settings`` to build services. Handlers get the
``Gateway`` and read the narrow values they need from it, never the settings themselves.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from authgate.access.api_clients import HeaderAuth
from authgate.access.forwarded import TrustedProxies
from authgate.access.policy import Policy
from authgate.access.return_to import ReturnSigner
from authgate.access.upstream import BasicAuth
from authgate.config import AppRule, Settings
from authgate.config.rules import AppClient
from authgate.observability import tracing
from authgate.oidc import OIDCClient
from authgate.oidc.clients import Clients, lane
from authgate.outpost.api import AuthentikAPI
from authgate.outpost.follower import Follower
from authgate.session.cache import SessionCache
from authgate.session.cookies import CookieReader
from authgate.session.login import LoginService
from authgate.session.meta import MetaSealer
from authgate.session.service import SessionService
from authgate.session.tickets import TicketSigner
from authgate.store import Store, open_store
from authgate.store.traced import TracedStore
from authgate.wiring.apps import App, Apps, global_meta
from authgate.wiring.outpost import OutpostApps
from authgate.wiring.reload import RulesReloader
from authgate.wiring.site import Domain, Site

log = logging.getLogger("authgate")


@dataclass
class Gateway:
    site: Site
    store: Store
    oidc: OIDCClient
    sessions: SessionService
    login: LoginService
    policy: Policy
    signer: TicketSigner
    cookies: CookieReader
    trusted: TrustedProxies
    apps: Apps  # each app's OAuth client, header auth and meta headers (the global ones by default)
    #: Reloads the rules file into ``policy`` (one assignment); None without a rules file.
    rules: RulesReloader | None = None
    #: Signs the ``rd`` a sign-out carries through the IdP (authgate/access/return_to.py).
    returns: ReturnSigner = field(default_factory=lambda: ReturnSigner([secrets.token_urlsafe(48)]))
    #: Outpost mode: follows Authentik's providers (None otherwise).
    outpost: Follower | None = None
    clients: Clients = field(init=False)
    #: The global header auth (AUTHGATE_HEADER_AUTH); None when off.
    header_auth: HeaderAuth | None = field(init=False)

    def __post_init__(self) -> None:
        self.clients = self.apps.clients
        self.header_auth = self.apps.default.header_auth

    def swap_policy(self, policy: Policy, apps: list[AppRule] | None = None) -> None:
        """The rules in force from now on (a reload); with ``apps``, their own services too. No
        await in between: a request sees the old rules and services or the new ones, never a mix."""
        if apps is not None:
            self.apps.update(apps)
            # A host may now sign in with another client: its sessions must be read (and their
            # client checked, authgate/web/auth.py from_store) again before they open anything.
            self.sessions.cache.clear()
        self.policy = policy

    def app_for(self, hostname: str) -> App:
        """The services of the app ``hostname`` belongs to (the global ones by default)."""
        return self.apps.get(self.policy.for_host(hostname).app)

    def client_for(self, hostname: str) -> str:
        """The name of the OAuth client that signs users in to ``hostname`` ("": the global one)."""
        return self.app_for(hostname).client

    def domain_for(self, hostname: str) -> Domain:
        """Where ``hostname``'s sign-ins happen and its cookies go: its app's domain-level mode, else
        the global one (AUTHGATE_COOKIE_DOMAIN), else the host alone."""
        return self.app_for(hostname).domain or self.site.domain

    def for_scope(self, scope: str) -> tuple[BasicAuth, int]:
        """The HTTP Basic attributes and session lifetime of the app a session of ``scope`` (a host,
        or ".<cookie domain>") belongs to: the app's own, else the global ones."""
        name = scope.removeprefix(".")
        app = self.app_for(name)
        if scope.startswith(".") and (app.domain is None or app.domain.cookie_domain != name):
            # A domain's own name may be no host of its app (an entry for `*.example.com` only).
            app = self.apps.with_domain(name) or app
        basic = app.basic_auth if app.basic_auth is not None else self.sessions.basic_auth
        return basic, app.session_ttl or self.site.session_ttl

    async def aclose(self) -> None:
        if self.outpost is not None:
            await self.outpost.api.aclose()
        await self.clients.aclose()
        await self.store.close()


def build_oidc(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> OIDCClient:
    """The OIDC client as the gateway uses it (``authgate check`` probes through the same one)."""
    return OIDCClient(
        issuer=settings.issuer,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=settings.scope_list,
        prompt=settings.prompt,
        backchannel_url=settings.backchannel_url,
        timeout=settings.idp_timeout,
        transport=transport,
    )


def build_client(settings: Settings, own: AppClient, transport: httpx.AsyncBaseTransport | None = None) -> OIDCClient:
    """An app's own client: its issuer, id, secret and scopes; the rest as the global client's."""
    return OIDCClient(
        issuer=own.issuer,
        client_id=own.client_id,
        client_secret=own.client_secret,
        scopes=list(own.scopes),
        prompt=settings.prompt,
        backchannel_url=settings.backchannel_url,
        timeout=settings.idp_timeout,
        transport=transport,
    )


def build_gateway(
    settings: Settings, *, store: Store | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> Gateway:
    if settings.outpost_mode and settings.authentik_host_browser and not settings.backchannel_url:
        # The outpost's split: browsers at AUTHENTIK_HOST_BROWSER, authgate's own calls to AUTHENTIK_HOST
        # with the browser's Host header (authgate/oidc/transport.py), so the issuer matches.
        settings = settings.model_copy(update={"backchannel_url": settings.authentik_host})
    if store is None:
        store = open_store(settings.redis_url, timeout=settings.store_timeout)
    if tracing.enabled():
        traced: Store = TracedStore(store)  # a span per store call; not wrapped at all when tracing is off
        store = traced
    if not store.shared:
        log.warning(
            "AUTHGATE_REDIS_URL is not set: sessions live in this process only. "
            "Run ONE replica with ONE worker, or set AUTHGATE_REDIS_URL to share sessions."
        )
    secret_keys = settings.secret or [secrets.token_urlsafe(48)]
    if not settings.secret:
        log.warning("AUTHGATE_SECRET is not set (development mode): a random key is used; sessions end on restart")
    oidc = build_oidc(settings, transport=transport)
    clients = Clients(oidc)
    cache = SessionCache(max_age=settings.session_cache_ttl)
    basic = BasicAuth(
        settings.authentik_basic_auth_username_attribute, settings.authentik_basic_auth_password_attribute
    )
    sessions = SessionService(
        store,
        oidc,
        ttl=settings.session_ttl,
        cache=cache,
        idle_ttl=settings.session_idle_ttl,
        meta=MetaSealer(secret_keys),
        clients=clients,
        basic_auth=basic,
    )
    login = LoginService(
        store,
        clients,
        sessions,
        ttl=settings.login_ttl,
        secrets=secret_keys,
        cookie_prefix=settings.cookie_name,
        cookie_domain=settings.cookie_domain,
    )
    policy = Policy.from_settings(settings)
    if settings.allowed_email_domains or any(
        a.email_domains or any(r.email_domains for r in a.rules) for a in settings.apps
    ):
        log.info(
            "email-domain rules admit only addresses the IdP marks email_verified: true%s",
            " (AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true: unverified addresses are admitted too)"
            if settings.allow_unverified_email
            else "; set AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true to admit unverified ones",
        )
    signer = TicketSigner(secret_keys)
    site = Site(
        prefix=settings.path_prefix,
        cookie_name=settings.cookie_name,
        cookie_domain=settings.cookie_domain,
        external_url=settings.external_url,
        session_ttl=settings.session_ttl,
        redirect_domains=tuple(settings.allowed_redirect_domains),
        header_sets=tuple(settings.header_sets),
        log_allows_every=settings.log_allows_sample if settings.log_allows else 0,
        meta=global_meta(settings),
        sends_basic_auth=basic.enabled,
        callback_query="?X-authentik-auth-callback=true" if settings.outpost_mode else "",
    )
    apps = Apps(settings, store, clients, lambda own: build_client(settings, own, transport), site.meta)
    if apps.default.header_auth is not None:
        log.info("header auth on for API clients: %s", ", ".join(sorted(apps.default.header_auth.config.modes)))
    host = urlsplit(settings.authentik_host or settings.issuer).hostname or "?"
    mode = "outpost mode, Authentik at" if settings.outpost_mode else "issuer host"
    log.info("authgate ready: %s %s, store %s", mode, host, type(store).__name__)
    gateway = Gateway(
        site,
        store,
        oidc,
        sessions,
        login,
        policy,
        signer,
        CookieReader(signer, settings.cookie_name, login.cookie_prefix),
        TrustedProxies(settings.trusted_proxies),
        apps,
        returns=ReturnSigner(secret_keys),
    )
    # Per app, looked up when used: a reload or a new provider list changes them.
    sessions.per_app = gateway.for_scope
    login.cookie_domain_of = lambda host: gateway.domain_for(host).cookie_domain
    swap: Callable[[Policy, list[AppRule]], None] = gateway.swap_policy
    if settings.outpost_mode:
        outpost = OutpostApps(settings, gateway.swap_policy)
        outpost.set_providers([])  # closed until the first list is read: no host is served yet
        swap = outpost.set_file_apps
        api = AuthentikAPI(
            settings.authentik_host,
            settings.authentik_token,
            insecure=settings.authentik_insecure,
            timeout=settings.idp_timeout,
            transport=transport,
        )

        async def end_sessions(sid: str) -> int:
            # Authentik's session id is the sid of every provider's ID tokens: it ends in each lane.
            named = sessions.clients.named() if sessions.clients is not None else iter([("", sessions.oidc)])
            return sum(
                [await sessions.logouts.logout(lane=lane(c), sid=sid) for c in {lane(c): c for _, c in named}.values()]
            )

        gateway.outpost = Follower(api, store, secret_keys, outpost.set_providers, end_sessions)
    if settings.config:
        gateway.rules = RulesReloader(settings, swap)
    return gateway
