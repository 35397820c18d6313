"""Per-app services: the OAuth client, header auth, meta headers, HTTP Basic attributes, session
lifetime and domain-level mode of each app (of the rules file, or an Authentik provider).

Authentik's outpost serves many applications, each with its own provider; so does authgate. An
app of the rules file that names its own client (``issuer``, ``client_id``, ``client_secret``)
signs its users in with it, and its sessions refresh and sign out with it; one that sets
``header_auth`` accepts API clients its own way; ``basic_auth_*``, ``session_ttl``,
``authentik_provider_name``/``_app_slug`` and ``cookie_domain``/``external_url`` replace the global
values for it. Every other app uses the global services.

Built at startup and again on each reload of the rules file (``Apps.update``): a client whose
settings did not change is kept, with its discovery, keys and connections, so a reload touches
nothing in flight.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from authgate import __version__
from authgate.access.api_clients import HeaderAuth, HeaderAuthConfig
from authgate.access.identity_headers import Meta
from authgate.access.policy import app_key
from authgate.access.upstream import BasicAuth
from authgate.config import AppRule, Settings
from authgate.config.rules import AppClient
from authgate.oidc import OIDCClient
from authgate.oidc.clients import Clients
from authgate.store import Store
from authgate.wiring.site import Domain

log = logging.getLogger("authgate")

_AUTHENTIK_ISSUER = re.compile(r"/application/o/([^/]+)/?$")


@dataclass(frozen=True, slots=True)
class App:
    """What one app signs in, checks API clients and describes itself with."""

    client: str  # the OAuth client's name ("": the global client)
    header_auth: HeaderAuth | None  # None: header auth off for this app
    meta: Meta  # its X-authentik-meta-* values
    basic_auth: BasicAuth | None = None  # its HTTP Basic attributes (None: the global ones)
    session_ttl: int = 0  # how long its sessions last (0: AUTHGATE_SESSION_TTL)
    domain: Domain | None = None  # its own domain-level mode (None: the global one, if any)


def basic_auth_of(app: AppRule) -> BasicAuth | None:
    """An entry's HTTP Basic attributes: on (its attributes), off, or None (the global ones)."""
    if app.basic_auth_enabled is None:
        return None
    if not app.basic_auth_enabled:
        return BasicAuth()
    return BasicAuth(app.basic_auth_user_attribute or "", app.basic_auth_password_attribute or "")


def global_meta(settings: Settings) -> Meta:
    """The X-authentik-meta-* values of the global client: named in the settings, or derived from
    an issuer in Authentik's layout (``https://auth.example.com/application/o/<slug>/``)."""
    issuer = settings.issuer
    m = _AUTHENTIK_ISSUER.search(urlsplit(issuer).path)
    app = settings.authentik_app_slug or (m.group(1) if m else "")
    return Meta(
        jwks=settings.authentik_jwks_url or (f"{issuer.rstrip('/')}/jwks/" if m else ""),
        outpost=settings.authentik_outpost_name,
        provider=settings.authentik_provider_name or app,
        app=app,
        version=f"authgate/{__version__}",
    )


def meta_for(issuer: str, base: Meta) -> Meta:
    """``base`` with the app slug, provider and JWKS URL of an issuer in Authentik's layout."""
    m = _AUTHENTIK_ISSUER.search(urlsplit(issuer).path)
    if m is None:
        return replace(base, jwks="", provider="", app="")
    return replace(base, jwks=f"{issuer.rstrip('/')}/jwks/", provider=m.group(1), app=m.group(1))


class Apps:
    """The global app and each app of the rules file with services of its own, by ``app_key``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clients: Clients,
        make_client: Callable[[AppClient], OIDCClient],
        meta: Meta,
    ) -> None:
        self._settings = settings
        self._store = store
        self.clients = clients
        self._make_client = make_client
        self._meta = meta
        self._by_settings: dict[AppClient, OIDCClient] = {}
        self.default = App(
            "",
            self._header_auth(
                clients.default, settings.header_auth, settings.header_auth_audiences, settings.client_id
            ),
            meta,
        )
        self._apps: dict[str, App] = {}
        self.update(settings.apps)

    def get(self, key: str) -> App:
        return self._apps.get(key, self.default) if key else self.default

    def with_domain(self, cookie_domain: str) -> App | None:
        """The first app whose own domain-level mode has ``cookie_domain`` (not on the hot path)."""
        return next((a for a in self._apps.values() if a.domain and a.domain.cookie_domain == cookie_domain), None)

    def update(self, apps: Iterable[AppRule]) -> None:
        """Build the per-app services of ``apps`` (after a reload): unchanged clients are kept."""
        s = self._settings
        built: dict[str, App] = {}
        named: dict[str, OIDCClient] = {}
        by_settings: dict[AppClient, OIDCClient] = {}
        for app in apps:
            own = app.own_client(s.scopes)
            if not app.own_services:
                continue
            if own is not None:
                oidc = self._by_settings.get(own) or by_settings.get(own) or self._make_client(own)
                by_settings[own] = named[own.client_id] = oidc
                name, meta = own.client_id, meta_for(own.issuer, self._meta)
            else:
                oidc, name, meta = self.clients.default, "", self._meta
            modes = s.header_auth if app.header_auth is None else app.header_auth
            audiences = s.header_auth_audiences if app.header_auth_audiences is None else app.header_auth_audiences
            header_auth = self._header_auth(oidc, modes, audiences, name or s.client_id)
            names = {
                "provider": app.authentik_provider_name,
                "app": app.authentik_app_slug,
                "outpost": app.authentik_outpost_name,
            }
            meta = replace(meta, **{k: v for k, v in names.items() if v is not None})
            ttl = min(app.session_ttl, s.session_ttl) if app.session_ttl else 0
            domain = Domain(app.cookie_domain, app.external_url or "") if app.cookie_domain else None
            built[app_key(app)] = App(name, header_auth, meta, basic_auth_of(app), ttl, domain)
        gone = [c for key, c in self._by_settings.items() if key not in by_settings]
        self._by_settings = by_settings
        self.clients.replace(named)
        self._apps = built
        for client in gone:
            log.info(
                "an app's client is no longer configured: %s (its sessions end at their next refresh)", client.client_id
            )

    def _header_auth(
        self, oidc: OIDCClient, modes: Iterable[str], audiences: Iterable[str], client_id: str
    ) -> HeaderAuth | None:
        modes = frozenset(m.lower() for m in modes)
        if not modes:
            return None
        return HeaderAuth(
            HeaderAuthConfig(modes=modes, audiences=frozenset([client_id, *audiences]), oidc=oidc), self._store
        )
