"""The auth check (the hot path): may this request pass, and who is it?

Called by nginx ``auth_request`` (answers 200/401/403 only, plus 503 when the store is down),
and by Traefik ``forwardAuth`` / Caddy ``forward_auth`` (a browser navigation that is not
signed in gets a 302 straight to the IdP). A session this replica verified lately is answered
from its local cache with no store round trip and no await; any other costs one store read.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import forwarded, metrics
from app.errors import InvalidForwardedHeaders, StoreUnavailable
from app.headers import LOOKALIKE_HEADERS, groups_left_out, identity_headers
from app.policy import AccessRule
from app.tickets import Ticket
from app.types import OriginalRequest, SessionData
from app.web.navigation import is_navigation
from app.web.pages import forbidden_page
from app.web.raw import Reply
from app.web.signin import HTML, begin_sign_in
from app.wiring import Gateway

log = logging.getLogger("authgate.auth")

LOOKALIKE = "lookalike"
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
            "x-original-url",
            "x-original-uri",
            "x-original-host",
            "x-original-method",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-uri",
            "x-forwarded-method",
            "authorization",
        )
    },
}
_LOGGED_LEFT_OUT: set[str] = set()  # group names already reported as left out of a header


def _unavailable() -> Reply:
    metrics.auth_checks.inc("unavailable")
    return Reply(503, [(b"retry-after", b"2")], b"session store unavailable\n")


class Caller(enum.Enum):
    """Who asks, which decides what may be answered: nginx's ``auth_request`` turns anything but
    200/401/403 into a 500 and cannot redirect; forward auth (Traefik, Caddy) hands any answer,
    a redirect included, to the browser."""

    NGINX = "nginx"
    FORWARD_AUTH = "forward-auth"


def _refuse(caller: Caller, peer: str | None, why: str) -> Reply:
    log.warning("auth check refused (%s) from %s", why, peer)
    metrics.auth_checks.inc("bad_request")
    # nginx turns anything but 200/401/403 into a 500; 403 keeps it a clean refusal.
    return Reply(403 if caller is Caller.NGINX else 400, body=f"{why}\n".encode())


@dataclass(slots=True)
class Check:
    """An auth check from a trusted proxy, parsed: the request asked about, its rule, the cookies."""

    original: OriginalRequest
    rule: AccessRule
    tickets: tuple[Ticket, ...]
    forward: bytes  # the Cookie header without authgate's cookies, for the proxy to pass on
    # The client's Authorization header, handed back for the proxy to pass on unchanged (the
    # recipes copy Authorization from the 200); empty when absent or when the IdP's HTTP Basic
    # credentials replace it (AUTHGATE_AUTHENTIK_BASIC_AUTH_PASSWORD_ATTRIBUTE).
    authorization: bytes = b""


def parse_check(
    gw: Gateway, caller: Caller, headers: Mapping[str, str], peer: str | None, scheme: str
) -> Check | Reply:
    """Parse an auth check; a Reply when it is answered without a session (refused, or public)."""
    if not gw.trusted.contains(peer):
        log.warning("auth check from %s, which is not in AUTHGATE_TRUSTED_PROXIES: denied", peer)
        metrics.auth_checks.inc("untrusted")
        return Reply(403, body=b"caller is not a trusted proxy\n")
    if LOOKALIKE in headers:
        # e.g. X-Authentik_Username: a proxy passes it on and WSGI/PHP apps read it as the real one.
        return _refuse(caller, peer, "a look-alike of an identity header was sent")
    if caller is Caller.FORWARD_AUTH and "x-forwarded-uri" not in headers:
        # Traefik's forwardAuth and Caddy's forward_auth always send it; their plain proxying (the
        # route of /outpost.goauthentik.io/* to authgate, which a page could call) never does.
        return _refuse(caller, peer, "X-Forwarded-Uri was not sent: not a forward-auth check")
    try:
        if caller is Caller.NGINX:
            original = forwarded.from_original(headers, default_scheme=scheme)
        else:
            original = forwarded.from_forwarded(headers, default_scheme=scheme)
    except InvalidForwardedHeaders as exc:
        return _refuse(caller, peer, f"malformed proxy headers: {exc}")
    if original.path.startswith(gw.site.auth_paths):
        # A browser asking for the auth check itself, through the proxy's route to authgate: its 200
        # would hand the page the identity headers, the access token included.
        log.warning("auth check of the auth route itself from %s: refused", peer)
        metrics.auth_checks.inc("bad_request")
        return Reply(403, body=b"not a page\n")

    view = gw.cookies.read(headers.get("cookie", ""))
    client_auth = headers.get("authorization")
    passed = client_auth.encode("latin-1") if client_auth and not gw.site.sends_basic_auth else b""
    rule = gw.policy.for_request(original)
    if rule.skip and rule.is_public(original.method, original.path):
        metrics.auth_checks.inc("public")
        return Reply(200, _passed_on(view.forward, passed))
    return Check(original, rule, view.tickets, view.forward, passed)


def _passed_on(cookie: bytes, authorization: bytes) -> list[tuple[bytes, bytes]]:
    """The request headers handed back for the proxy to pass on: the filtered Cookie and the
    client's own Authorization."""
    out = [(b"cookie", cookie)] if cookie else []
    if authorization:
        out.append((b"authorization", authorization))
    return out


def from_cache(gw: Gateway, check: Check) -> Reply | None:
    """The answer from this replica's cache of verified sessions, with no I/O and no await.

    Nothing can run between the loop reading this request and this answer, and nothing needs
    to: invalidations (a sign-out on another replica) are applied in the I/O callback that reads
    them (app/store/subscription.py), and this runs in a task, after every I/O callback of the
    poll that read the request. tests/integration/test_replicas.py freezes a replica to prove it.
    """
    hostname = check.original.hostname
    for ticket in check.tickets:
        entry = gw.sessions.cached(ticket)
        if entry is not None and gw.site.opens(entry.data, hostname):
            return _decide(gw, check, entry.data, entry.memo)
    return None


async def from_store(gw: Gateway, caller: Caller, check: Check, headers: Mapping[str, str]) -> Reply:
    """The answer after reading (and, when due, refreshing) the session in the store."""
    original = check.original
    try:
        for ticket in check.tickets:
            data = await gw.sessions.load(ticket)
            if data is None:
                continue
            if not gw.site.opens(data, original.hostname):
                log.warning("a session of %r was presented on %r: not valid there", data.scope, original.hostname)
                continue
            data = await gw.sessions.refreshed_if_due(ticket, data)
            if data is not None:
                # The load just cached it (unless the cache is off): its 200 is then kept there.
                entry = gw.sessions.cached(ticket)
                return _decide(gw, check, data, entry.memo if entry is not None and entry.data is data else {})
    except StoreUnavailable as exc:
        log.error("auth check failed closed: %s", exc)
        return _unavailable()

    if caller is Caller.NGINX or not is_navigation(original.method, headers, strict=True):
        metrics.auth_checks.inc("unauthenticated")
        return Reply(401, body=b"sign-in required\n")
    reply = await begin_sign_in(
        gw,
        origin=original.origin,
        original_url=original.url,
        cookie_header=headers.get("cookie", ""),
        secure=original.scheme == "https",
    )
    metrics.auth_checks.inc("redirect" if reply.status == 302 else "idp_unavailable")
    return reply


def _decide(gw: Gateway, check: Check, data: SessionData, memo: dict[str, Any]) -> Reply:
    """A signed-in user: 200 with the identity headers, or 403. The 200 is kept in ``memo`` (the
    session's cache entry) per Cookie header: a browser sends the same one request after request."""
    why = check.rule.refusal(data.identity)
    if why is not None:
        original = check.original
        log.info("denied %r on %r: %s", data.identity.username or data.identity.sub, original.hostname, why)
        metrics.auth_checks.inc("denied")
        sign_out = f"{original.origin}{gw.site.prefix}/sign_out"
        return Reply(403, body=forbidden_page(data.identity, sign_out, why), content_type=HTML)
    metrics.auth_checks.inc("ok")
    ok: Reply | None = memo.get("ok")
    if ok is None:
        site = gw.site
        ok = Reply(200, identity_headers(data.identity, data.access_token, site.header_sets, site.meta, data.upstream))
        memo["ok"] = ok
        _log_left_out(data, site.header_sets)
    forward, passed = check.forward, check.authorization
    if not forward and not passed:
        return ok
    # The reply with this Cookie (and Authorization) header: the last one is kept (a browser sends
    # the same one request after request).
    last: tuple[bytes, bytes, Reply] | None = memo.get("ok+passed")
    if last is None or last[0] != forward or last[1] != passed:
        last = memo["ok+passed"] = (forward, passed, Reply(200, [*ok.headers, *_passed_on(forward, passed)]))
    return last[2]


def _log_left_out(data: SessionData, header_sets: tuple[str, ...]) -> None:
    identity = data.identity
    for kind, names, sets in (
        ("group", identity.groups, header_sets),
        ("entitlement", identity.entitlements, ("authentik",) if "authentik" in header_sets else ()),
    ):
        for name in groups_left_out(names, sets):
            if name not in _LOGGED_LEFT_OUT and len(_LOGGED_LEFT_OUT) < 1024:
                _LOGGED_LEFT_OUT.add(name)
                log.warning(
                    "%s %r holds a header delimiter ('|' or ','): left out of the %ss headers", kind, name, kind
                )
