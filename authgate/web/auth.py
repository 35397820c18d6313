"""The auth check (the hot path): may this request pass, and who is it?

Called by nginx ``auth_request`` (answers 200/401/403 only, plus 503 when the store is down),
and by Traefik ``forwardAuth`` / Caddy ``forward_auth`` (a browser navigation that is not
signed in gets a 302 straight to the IdP; a WebSocket handshake, like any other request that is
no navigation, a 401). A forward-auth check of the gateway's own /start, /callback or /sign_out is
answered by that route (authgate/web/inline.py). The check is parsed in authgate/web/parse.py; a session this
replica verified lately is answered from its local cache with no store round trip and no await; any
other costs one store read.
"""

from __future__ import annotations

import logging

from authgate.access.identity_headers import groups_left_out, identity_headers
from authgate.errors import StoreUnavailable
from authgate.model import Answers, SessionData
from authgate.observability import audit, metrics, requestid
from authgate.web import api_auth
from authgate.web.navigation import is_navigation
from authgate.web.pages import forbidden_page
from authgate.web.parse import (
    WANTED_HEADERS,
    BrowserRoute,
    Caller,
    Check,
    audit_line,
    parse_check,
    passed_on,
    where,
    who,
)
from authgate.web.raw import Reply
from authgate.web.signin import HTML, begin_sign_in
from authgate.wiring.gateway import Gateway

__all__ = ["WANTED_HEADERS", "BrowserRoute", "Caller", "Check", "from_cache", "from_store", "parse_check"]

log = logging.getLogger("authgate.auth")
_LOGGED_LEFT_OUT: set[str] = set()  # group names already reported as left out of a header


def _unavailable() -> Reply:
    metrics.auth_checks.inc("unavailable")
    return Reply(503, [(b"retry-after", b"2")], b"session store unavailable\n")


def from_cache(gw: Gateway, check: Check) -> Reply | None:
    """The answer from this replica's cache of verified sessions, with no I/O and no await.

    Nothing can run between the loop reading this request and this answer, and nothing needs
    to: invalidations (a sign-out on another replica) are applied in the I/O callback that reads
    them (authgate/store/subscription.py), and this runs in a task, after every I/O callback of the
    poll that read the request. tests/integration/test_replicas.py freezes a replica to prove it.
    """
    hostname = check.original.hostname
    client = check.app.client if check.app is not None else ""
    for ticket in check.tickets:
        entry = gw.sessions.cached(ticket)
        # The client, every time: a session read after a reload (or, in domain mode, on a host of
        # another client) is cached before from_store refuses it for its client.
        if entry is not None and entry.data.client == client and gw.site.opens(entry.data, hostname):
            metrics.cache_lookups.hits += 1
            return _decide(gw, check, entry.data, entry.memo)
    return None


async def from_store(gw: Gateway, caller: Caller, check: Check, headers: dict[str, str]) -> Reply:
    """The answer after reading (and, when due, refreshing) the session in the store."""
    original = check.original
    requestid.current.set(headers)  # every line from here on carries the request's id
    if check.tickets:
        metrics.cache_lookups.misses += 1
    try:
        for ticket in check.tickets:
            data = await gw.sessions.load(ticket)
            if data is None:
                continue
            if not gw.site.opens(data, original.hostname):
                log.warning("a session of %r was presented on %r: not valid there", data.scope, original.hostname)
                continue
            if data.client != (check.app.client if check.app is not None else ""):
                # Signed in with another client than the host's now (the rules file changed): the
                # app's IdP policies were never asked about this user. Sign in again.
                log.info(
                    "a session of client %r was presented on %r, which uses another client",
                    data.client,
                    original.hostname,
                )
                continue
            data = await gw.sessions.refreshed_if_due(ticket, data)
            if data is not None:
                # Its 200 is kept with the session, until the session changes.
                return _decide(gw, check, data, gw.sessions.memo_of(ticket, data))
    except StoreUnavailable as exc:
        log.error("auth check failed closed: %s", exc)
        audit.event("access.unavailable", **where(original, headers, check.peer, gw), reason=str(exc))
        return _unavailable()

    app = check.app or gw.apps.default
    if check.authorization is not None and app.header_auth is not None:
        # No session: an API client's Authorization header decides, and is never redirected.
        reply = await api_auth.answer(
            app.header_auth,
            authorization=check.authorization,
            rule=check.rule,
            original=original,
            forward=check.forward,
            passed=check.passed,
            header_sets=gw.site.header_sets,
            meta=app.meta,
            headers=headers,
            peer=check.peer,
            trusted=gw.trusted,
        )
        if reply is not None:
            return reply
    if caller is Caller.NGINX or not is_navigation(original.method, headers, strict=True):
        audit.event("access.unauthenticated", **where(original, headers, check.peer, gw))
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
    audit.event("sign_in.started", **where(original, headers, check.peer, gw), status=reply.status)
    return reply


def _decide(gw: Gateway, check: Check, data: SessionData, memo: Answers[Reply]) -> Reply:
    """A signed-in user: 200 with the identity headers, or 403. The 200 is kept in ``memo`` (the
    session's cache entry) per Cookie header: a browser sends the same one request after request."""
    why = check.rule.refusal(data.identity, check.client_ip)
    if why is not None:
        original, rule, user = check.original, check.rule.name, data.identity.username or data.identity.sub
        log.info("denied %r on %r by %s: %s", user, original.hostname, rule, why)
        audit_line(
            check.headers,
            "access.denied",
            **where(original, check.headers, check.peer, gw),
            **who(data),
            rule=rule,
            reason=why,
        )
        metrics.auth_checks.inc("denied")
        sign_out = f"{original.origin}{gw.site.prefix}/sign_out"
        # The page says what would admit, in plain words; the rule's name is for the log (above).
        return Reply(403, body=forbidden_page(data.identity, sign_out, why), content_type=HTML)
    metrics.auth_checks.inc("ok")
    every = gw.site.log_allows_every
    if every and metrics.auth_checks.counts["ok"] % every == 0:  # sampled; nothing at all when off
        audit_line(check.headers, "access.allowed", **where(check.original, check.headers, check.peer, gw), **who(data))
    ok = memo.ok
    if ok is None:
        site = gw.site
        meta = check.app.meta if check.app is not None else site.meta
        ok = Reply(200, identity_headers(data.identity, data.access_token, site.header_sets, meta, data.upstream))
        memo.ok = ok
        _log_left_out(data, site.header_sets)
    forward, passed = check.forward, check.passed
    if not forward and not passed:
        return ok
    # The reply with this Cookie (and Authorization) header: the last one is kept (a browser sends
    # the same one request after request).
    last = memo.ok_passed
    if last is None or last[0] != forward or last[1] != passed:
        last = memo.ok_passed = (forward, passed, Reply(200, [*ok.headers, *passed_on(forward, passed)]))
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
