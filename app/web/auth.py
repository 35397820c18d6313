"""The auth check (the hot path): may this request pass, and who is it?

Called by nginx ``auth_request`` (answers 200/401/403 only, plus 503 when the store is down),
and by Traefik ``forwardAuth`` / Caddy ``forward_auth`` (a browser navigation that is not
signed in gets a 302 straight to the IdP). A session this replica verified lately is answered
from its local cache with no store round trip and no await; any other costs one store read.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from app import forwarded, metrics
from app.errors import IdPError, InvalidForwardedHeaders, StoreUnavailable
from app.headers import identity_headers
from app.policy import AccessRule
from app.tickets import Ticket
from app.types import OriginalRequest, SessionData
from app.web.cookies import cookie_values, set_cookie
from app.web.gateway import Gateway
from app.web.navigation import is_navigation
from app.web.pages import error_page, forbidden_page
from app.web.raw import Reply

log = logging.getLogger("authgate.auth")

HTML = b"text/html; charset=utf-8"

#: The request headers an auth check reads (all others are never decoded), by their wire names.
WANTED_HEADERS = {
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
        "x-original-method",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-uri",
        "x-forwarded-method",
        "authorization",
    )
}


def _unavailable() -> Reply:
    metrics.auth_checks.inc("unavailable")
    return Reply(503, [(b"retry-after", b"2")], b"session store unavailable\n")


@dataclass(slots=True)
class Question:
    """An auth check from a trusted proxy, parsed: the request asked about, its rule, the tickets."""

    original: OriginalRequest
    rule: AccessRule
    tickets: tuple[Ticket, ...]


def ask(gw: Gateway, nginx: bool, headers: Mapping[str, str], peer: str | None, scheme: str) -> Question | Reply:
    """Parse an auth check; a Reply when it is answered without a session (refused, or public)."""
    if not gw.trusted.contains(peer):
        log.warning("auth check from %s, which is not in AUTHGATE_TRUSTED_PROXIES: denied", peer)
        metrics.auth_checks.inc("untrusted")
        return Reply(403, body=b"caller is not a trusted proxy\n")
    try:
        if nginx:
            original = forwarded.from_original(headers, default_scheme=scheme)
        else:
            original = forwarded.from_forwarded(headers, default_scheme=scheme)
    except InvalidForwardedHeaders as exc:
        log.warning("auth check with bad proxy headers from %s: %s", peer, exc)
        metrics.auth_checks.inc("bad_request")
        # nginx turns anything but 200/401/403 into a 500; 403 keeps it a clean refusal.
        return Reply(403 if nginx else 400, body=b"malformed proxy headers\n")

    rule = gw.policy.for_request(original)
    if rule.skip and rule.is_public(original.method, original.path):
        metrics.auth_checks.inc("public")
        return Reply(200)
    return Question(original, rule, gw.tickets(headers.get("cookie", "")))


def from_cache(gw: Gateway, question: Question) -> Reply | None:
    """The answer from this replica's cache of verified sessions, with no I/O and no await.

    Nothing can run between the loop reading this request and this answer, and nothing needs
    to: invalidations (a sign-out on another replica) are applied in the I/O callback that reads
    them (app/store/subscription.py), and this runs in a task, after every I/O callback of the
    poll that read the request. tests/integration/test_replicas.py freezes a replica to prove it.
    """
    for ticket in question.tickets:
        data = gw.sessions.cached(ticket)
        if data is not None:
            return _decide(gw, question, data)
    return None


async def from_store(gw: Gateway, nginx: bool, question: Question, headers: Mapping[str, str]) -> Reply:
    """The answer after reading (and, when due, refreshing) the session in the store."""
    try:
        for ticket in question.tickets:
            data = await gw.sessions.load(ticket)
            if data is None:
                continue
            data = await gw.sessions.fresh(ticket, data)
            if data is not None:
                return _decide(gw, question, data)
    except StoreUnavailable as exc:
        log.error("auth check failed closed: %s", exc)
        return _unavailable()

    original = question.original
    if nginx or not is_navigation(original.method, headers, strict=True):
        metrics.auth_checks.inc("unauthenticated")
        return Reply(401, body=b"sign-in required\n")
    return await _redirect_to_idp(gw, original, headers)


def _decide(gw: Gateway, question: Question, data: SessionData) -> Reply:
    """A signed-in user: 200 with the identity headers (the reply memoised per session), or 403."""
    if not question.rule.allows(data.identity):
        original = question.original
        log.info("denied %s on %s", data.identity.username or data.identity.sub, original.hostname)
        metrics.auth_checks.inc("denied")
        sign_out = f"{original.origin}{gw.prefix}/sign_out"
        return Reply(403, body=forbidden_page(data.identity, sign_out), content_type=HTML)
    metrics.auth_checks.inc("ok")
    ok: Reply | None = data.memo.get("ok")
    if ok is None:
        ok = data.memo["ok"] = Reply(200, identity_headers(data.identity, data.access_token, gw.settings.header_sets))
    return ok


async def _redirect_to_idp(gw: Gateway, original: OriginalRequest, headers: Mapping[str, str]) -> Reply:
    """Forward auth for a browser navigation: store login state, send the browser to the IdP."""
    binding, cookie = binding_for(gw, headers, secure=original.scheme == "https")
    try:
        url = await gw.login.begin(
            original_url=original.url, redirect_uri=gw.callback_url(original.origin), binding=binding
        )
    except StoreUnavailable as exc:
        log.error("cannot start sign-in: %s", exc)
        return _unavailable()
    except IdPError as exc:
        log.error("cannot start sign-in: %s", exc)
        metrics.auth_checks.inc("idp_unavailable")
        retry = f"{gw.start_url(original.origin)}?rd={quote(original.url, safe='')}"
        page = error_page("Sign-in is unavailable", "The identity provider cannot be reached right now.", retry)
        return Reply(503, body=page, content_type=HTML)
    metrics.auth_checks.inc("redirect")
    return Reply(302, [(b"location", url.encode()), (b"set-cookie", cookie.encode())])


def binding_for(gw: Gateway, headers: Mapping[str, str], *, secure: bool) -> tuple[str, str]:
    """The browser's login-binding value and the Set-Cookie that (re)sets it.

    One cookie per browser however many tabs sign in at once: each tab's state is bound to
    its value. An existing value is kept and its lifetime renewed, so a sign-in started in
    another tab is not orphaned.
    """
    value = next(
        (
            v
            for v in cookie_values(headers.get("cookie", ""), gw.binding_cookie)
            if 32 <= len(v) <= 64 and v.replace("-", "").replace("_", "").isalnum()
        ),
        None,
    ) or secrets.token_urlsafe(32)
    cookie = set_cookie(
        gw.binding_cookie,
        value,
        max_age=gw.settings.login_ttl + 60,
        secure=secure,
        domain=gw.settings.cookie_domain,
        path=gw.prefix,
    )
    return value, cookie
