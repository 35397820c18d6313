"""An auth check, parsed: which request the proxy asks about, which rule decides it, the cookies.

Refusals that need no session are answered here (an untrusted caller, a look-alike identity
header, malformed proxy headers, a check of the auth route itself, a ``deny`` rule), as are public
paths; a check of the gateway's own browser routes becomes a ``BrowserRoute``. What is left is a
``Check`` for authgate/web/auth.py to answer from the cache or the store. Audit lines of the check are
written through ``audit_line`` (the request's id made current only then: a cached allow sets nothing).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from authgate.access import forwarded
from authgate.access.identity_headers import LOOKALIKE_HEADERS
from authgate.access.request import OriginalRequest
from authgate.access.verdicts import AccessRule, AllOf, Deny, Public
from authgate.errors import InvalidForwardedHeaders
from authgate.model import SessionData
from authgate.observability import audit, metrics, requestid
from authgate.session.tickets import Ticket
from authgate.web.raw import Reply
from authgate.wiring.apps import App
from authgate.wiring.gateway import Gateway

log = logging.getLogger("authgate.auth")

LOOKALIKE = "lookalike"
#: The query parameters Authentik's outpost answers, on any path, as its OAuth callback and as a sign-out.
CALLBACK_KEY = "X-authentik-auth-callback"
LOGOUT_KEY = "X-authentik-logout"
#: The request headers an auth check reads (all others are never decoded), by their wire names;
#: look-alikes of the identity headers are read too, to refuse the request.
WANTED_HEADERS = {
    **{name: LOOKALIKE for name in LOOKALIKE_HEADERS},
    **{
        name.encode(): name
        for name in (
            "host",
            "cookie",
            "accept",
            "x-requested-with",
            "sec-fetch-mode",
            "sec-fetch-dest",
            "upgrade",
            "sec-websocket-key",
            "x-original-url",
            "x-original-uri",
            "x-original-host",
            "x-original-method",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-uri",
            "x-forwarded-method",
            "x-forwarded-for",  # the client's address: network rules and audit lines
            "authorization",
            "x-request-id",
            "traceparent",
        )
    },
}


class Caller(enum.Enum):
    """Who asks, which decides what may be answered: nginx's ``auth_request`` turns anything but
    200/401/403 into a 500 and cannot redirect; forward auth (Traefik, Caddy) hands any answer,
    a redirect included, to the browser."""

    NGINX = "nginx"
    FORWARD_AUTH = "forward-auth"


def audit_line(headers: dict[str, str], kind: str, /, **fields: object) -> None:
    """An audit line of this check. The request (its id) is made current only now: a cached allow
    sets nothing. From the store read on, the dispatcher has made it current for every line."""
    requestid.current.set(headers)
    audit.event(kind, **fields)


def _refuse(caller: Caller, headers: dict[str, str], peer: str | None, why: str) -> Reply:
    audit_line(headers, "access.refused", client_ip=peer or "", reason=why)
    metrics.auth_checks.inc("bad_request")
    # nginx turns anything but 200/401/403 into a 500; 403 keeps it a clean refusal.
    return Reply(403 if caller is Caller.NGINX else 400, body=f"{why}\n".encode())


@dataclass(slots=True)
class BrowserRoute:
    """A check of the gateway's own /start, /callback or /sign_out (a proxy that runs the check before
    its route to authgate): answered by the route itself (authgate/web/inline.py)."""

    original: OriginalRequest
    path: str  # the route's path, as the app would see it


@dataclass(slots=True)
class Check:
    """An auth check from a trusted proxy, parsed: the request asked about, who may pass (the
    rule that matched), the cookies, and the client's address when that rule has networks."""

    original: OriginalRequest
    rule: AccessRule | AllOf
    tickets: tuple[Ticket, ...]
    forward: bytes  # the Cookie header without authgate's cookies, for the proxy to pass on
    headers: dict[str, str]  # as read (the request id is made from them, and kept in them)
    peer: str | None
    authorization: str | None = None  # read only when header auth is on (authgate/web/api_auth.py)
    client_ip: str = ""  # only read (and only worked out) when the rule has networks
    # The client's Authorization header, handed back for the proxy to pass on unchanged (the
    # recipes copy Authorization from the 200); empty when absent or when the IdP's HTTP Basic
    # credentials replace it (AUTHGATE_AUTHENTIK_BASIC_AUTH_PASSWORD_ATTRIBUTE).
    passed: bytes = b""
    app: App | None = None  # the app's own services (authgate/wiring/apps.py); None: the global ones


def parse_check(
    gw: Gateway, caller: Caller, headers: dict[str, str], peer: str | None, scheme: str
) -> Check | Reply | BrowserRoute:
    """Parse an auth check; a Reply when it is answered without a session (refused, or public)."""
    if not gw.trusted.contains(peer):
        audit_line(
            headers, "access.refused", client_ip=peer or "", reason="the caller is not in AUTHGATE_TRUSTED_PROXIES"
        )
        metrics.auth_checks.inc("untrusted")
        return Reply(403, body=b"caller is not a trusted proxy\n")
    if LOOKALIKE in headers:
        # e.g. X-Authentik_Username: a proxy passes it on and WSGI/PHP apps read it as the real one.
        return _refuse(caller, headers, peer, "a look-alike of an identity header was sent")
    if caller is Caller.FORWARD_AUTH and "x-forwarded-uri" not in headers:
        # Traefik's forwardAuth and Caddy's forward_auth always send it; their plain proxying (the
        # route of /outpost.goauthentik.io/* to authgate, which a page could call) never does.
        return _refuse(caller, headers, peer, "X-Forwarded-Uri was not sent: not a forward-auth check")
    try:
        if caller is Caller.NGINX:
            original = forwarded.from_original(headers, default_scheme=scheme)
        else:
            original = forwarded.from_forwarded(headers, default_scheme=scheme)
    except InvalidForwardedHeaders as exc:
        return _refuse(caller, headers, peer, f"malformed proxy headers: {exc}")
    routed = original.routed  # the path itself unless it has %, // or /.
    if routed.startswith(gw.site.own_paths):
        if routed.startswith(gw.site.auth_paths):
            # A browser asking for the auth check itself (in any spelling the proxy routes there),
            # through the proxy's route to authgate: its 200 would hand the page the identity
            # headers, the access token included.
            audit_line(
                headers,
                "access.refused",
                **where(original, headers, peer, gw),
                reason="an auth check of the auth route",
            )
            metrics.auth_checks.inc("bad_request")
            return Reply(403, body=b"not a page\n")
        forms = original.forms  # an ambiguous spelling is checked like any page
        browser = caller is Caller.FORWARD_AUTH and original.method in ("GET", "HEAD", "POST")
        if browser and not forms.ambiguous and forms.canonical in gw.site.browser_paths:
            return BrowserRoute(original, forms.canonical)
    if "X-authentik-" in original.query and caller is Caller.FORWARD_AUTH:
        # Authentik's outpost takes these on any path: answered by /callback, whose state check (the
        # sealed login cookie of this browser) decides, or by /sign_out; never passed through.
        if query_says(original.query, CALLBACK_KEY):
            return BrowserRoute(original, f"{gw.site.prefix}/callback")
        if query_says(original.query, LOGOUT_KEY):
            # The rest of the query is the app's (an `rd` of its own): the outpost reads none of it.
            return BrowserRoute(replace(original, query=""), f"{gw.site.prefix}/sign_out")

    view = gw.cookies.read(headers.get("cookie", ""))
    host = gw.policy.for_request(original)
    rule = host.verdict_for(original) if host.rules else host.default
    app = gw.apps.get(host.app) if host.app else None  # no lookup for an app of the global client
    client_auth = headers.get("authorization")
    if client_auth is None:
        passed, authorization = b"", None
    else:
        basic = app.basic_auth if app is not None and app.basic_auth is not None else None
        replaced = gw.site.sends_basic_auth if basic is None else basic.enabled
        passed = b"" if replaced else client_auth.encode("latin-1")
        # Header auth reads it only when on for this app.
        authorization = client_auth if (gw.header_auth if app is None else app.header_auth) is not None else None
    if type(rule) is AccessRule and not rule.networks:  # the common case, in one test
        return Check(original, rule, view.tickets, view.forward, headers, peer, authorization, "", passed, app)
    if isinstance(rule, Public):
        metrics.auth_checks.inc("public")
        return Reply(200, passed_on(view.forward, passed))
    if isinstance(rule, Deny):
        return _denied_by_rule(gw, original, rule.name, headers, peer)
    # Only a rule with networks needs the client's address (X-Forwarded-For through trusted proxies).
    client_ip = forwarded.client_ip(headers.get("x-forwarded-for"), peer, gw.trusted) if rule.networks else ""
    return Check(original, rule, view.tickets, view.forward, headers, peer, authorization, client_ip, passed, app)


def query_says(query: str, key: str) -> bool:
    """Whether ``query`` says ``<key>=true`` (its first value, any case), as the outpost reads it
    (Go's ``URL.Query().Get``: the name as written, the value compared ignoring case)."""
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == key]
    return bool(values) and values[0].lower() == "true"


def passed_on(cookie: bytes, authorization: bytes) -> list[tuple[bytes, bytes]]:
    """The request headers handed back for the proxy to pass on: the filtered Cookie and the
    client's own Authorization."""
    out = [(b"cookie", cookie)] if cookie else []
    if authorization:
        out.append((b"authorization", authorization))
    return out


def _denied_by_rule(
    gw: Gateway, original: OriginalRequest, rule: str, headers: dict[str, str], peer: str | None
) -> Reply:
    """A ``deny`` rule: 403 to everyone, signed in or not, with the rule that said so."""
    log.info("denied %s %r on %r by %s", original.method, original.path, original.hostname, rule)
    audit_line(headers, "access.denied", **where(original, headers, peer, gw), rule=rule)
    metrics.auth_checks.inc("denied")
    return Reply(403, body=f"access denied by {rule}\n".encode())


def where(original: OriginalRequest, headers: Mapping[str, str], peer: str | None, gw: Gateway) -> dict[str, str]:
    """An audit line's request fields: the path the rules decided on (its canonical form, without
    the query, which may carry secrets), and as sent when that differs."""
    forms = original.forms
    fields = {
        "host": original.hostname,
        "path": forms.canonical,
        "method": original.method,
        "client_ip": forwarded.client_ip(headers.get("x-forwarded-for"), peer, gw.trusted),
    }
    if forms.raw != forms.canonical:
        fields["raw_path"] = forms.raw
    return fields


def who(data: SessionData) -> dict[str, str]:
    return {"user": data.identity.username, "sub": data.identity.sub}
