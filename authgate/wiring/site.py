"""Where authgate answers and how its cookies are written: the ``Site``, and each app's ``Domain``.

The HTTP layer reads these narrow values, never the settings. A ``Domain`` is domain-level mode
for one app (an Authentik ``forward_domain`` provider, or a rules-file entry with ``cookie_domain``)
or for every app (``AUTHGATE_COOKIE_DOMAIN``): its session cookie is set for the cookie domain, and
its sign-ins come back to the one callback at its external URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from authgate.access.identity_headers import NO_META, Meta
from authgate.model import SessionData


@dataclass(frozen=True, slots=True)
class Domain:
    """A cookie domain and its auth host (the external URL), or neither: the app's own host."""

    cookie_domain: str = ""
    external_url: str = ""

    def sign_in_base(self, origin: str) -> str:
        """Where sign-ins happen: the auth host in domain mode, else the app's own host."""
        return self.external_url.rstrip("/") if self.cookie_domain else origin


SINGLE = Domain()


@dataclass(frozen=True, slots=True)
class Site:
    """Where authgate answers and how its cookies are written: what the HTTP layer needs."""

    prefix: str  # every gateway route's path prefix
    cookie_name: str
    cookie_domain: str  # domain-level mode when set
    external_url: str  # the auth host in domain-level mode
    session_ttl: int
    redirect_domains: tuple[str, ...]
    header_sets: tuple[str, ...]
    #: Log one allowed request in this many (AUTHGATE_LOG_ALLOWS_SAMPLE); 0: allows are not logged.
    log_allows_every: int = 0
    meta: Meta = NO_META  # the X-authentik-meta-* values
    #: The IdP's HTTP Basic credentials replace the client's Authorization header (else it passes).
    sends_basic_auth: bool = False
    #: Appended to the callback URL: outpost mode's ``?X-authentik-auth-callback=true``, the redirect
    #: URI Authentik registers for every proxy provider.
    callback_query: str = ""
    #: The prefix of every gateway route, and of the auth-check routes (the proxy's, never a page).
    own_paths: str = field(init=False)
    auth_paths: str = field(init=False)
    #: The browser routes a forward-auth check may be asked about (authgate/web/inline.py).
    browser_paths: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # Derived once, read per check.
        object.__setattr__(self, "own_paths", f"{self.prefix}/")
        object.__setattr__(self, "auth_paths", f"{self.prefix}/auth/")
        routes = ("start", "callback", "sign_out", "signed_out", "frontchannel_logout")
        object.__setattr__(self, "browser_paths", frozenset(f"{self.prefix}/{r}" for r in routes))

    @property
    def domain(self) -> Domain:
        """The global domain-level mode (AUTHGATE_COOKIE_DOMAIN, AUTHGATE_EXTERNAL_URL), or none."""
        return Domain(self.cookie_domain, self.external_url) if self.cookie_domain else SINGLE

    def callback_url(self, origin: str, domain: Domain | None = None) -> str:
        """Where the IdP sends the browser back (``domain``: the app's; default the global one)."""
        return f"{(domain or self.domain).sign_in_base(origin)}{self.prefix}/callback{self.callback_query}"

    def signed_out_url(self, origin: str, domain: Domain | None = None) -> str:
        """Where the IdP sends the browser back after signing out (one registrable address per host,
        or domain mode's auth host)."""
        return f"{(domain or self.domain).sign_in_base(origin)}{self.prefix}/signed_out"

    def start_url(self, origin: str, rd: str | None = None, domain: Domain | None = None) -> str:
        """The sign-in start for ``origin``, returning to ``rd``."""
        url = f"{(domain or self.domain).sign_in_base(origin)}{self.prefix}/start"
        return f"{url}?rd={quote(rd, safe='')}" if rd else url

    def opens(self, data: SessionData, hostname: str) -> bool:
        """Whether a session may open ``hostname``: the host it was signed in on, or in
        domain-level mode any host under the cookie domain (a copied cookie opens nothing else)."""
        scope = data.scope
        # The session's own host first: one string comparison in the common case (the hot path).
        return scope == hostname or (scope.startswith(".") and (hostname.endswith(scope) or hostname == scope[1:]))
