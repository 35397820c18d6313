"""The auth check of an API client (header auth): 200 with the identity headers, 401 with
``WWW-Authenticate``, or 403; never a redirect, since no person is there to follow it.

Reached only when header auth is on, the request carries ``Authorization`` with an enabled scheme
and no valid session cookie: a session, when there is one, is used first (as Authentik's outpost
does), so a signed-in browser that also sends ``Authorization`` to its app is unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from authgate.access import forwarded
from authgate.access.api_clients import BASIC, HeaderAuth
from authgate.access.identity_headers import Meta, identity_headers
from authgate.access.request import OriginalRequest
from authgate.access.verdicts import AccessRule, AllOf
from authgate.errors import CredentialsRefused, IdPUnavailable, StoreUnavailable
from authgate.observability import audit, metrics
from authgate.web.parse import passed_on
from authgate.web.raw import Reply

log = logging.getLogger("authgate.auth")

CHALLENGES = {
    "bearer": b'Bearer realm="authgate", error="invalid_token"',
    BASIC: b'Basic realm="authgate", charset="UTF-8"',
}


async def answer(
    header_auth: HeaderAuth,
    *,
    authorization: str,
    rule: AccessRule | AllOf,
    original: OriginalRequest,
    forward: bytes,
    passed: bytes,
    header_sets: tuple[str, ...],
    meta: Meta,
    headers: Mapping[str, str],
    peer: str | None,
    trusted: forwarded.TrustedProxies,
) -> Reply | None:
    """The answer for ``authorization``; None when its scheme is not one header auth accepts (the
    request is then checked as any other)."""
    scheme = header_auth.scheme_of(authorization)
    if scheme is None:
        return None
    try:
        who = await header_auth.authenticate(scheme, authorization)
    except CredentialsRefused as exc:
        audit.event(
            "header_auth.failed",
            method=scheme,
            user=exc.user,
            reason=exc.reason,
            host=original.hostname,
            path=original.path,
            client_ip=forwarded.client_ip(headers.get("x-forwarded-for"), peer, trusted),
        )
        metrics.auth_checks.inc("unauthenticated")
        return Reply(401, [(b"www-authenticate", CHALLENGES[scheme])], b"invalid credentials\n")
    except (StoreUnavailable, IdPUnavailable) as exc:
        log.error("header auth failed closed: %s", exc)
        metrics.auth_checks.inc("unavailable")
        return Reply(503, [(b"retry-after", b"2")], b"temporarily unavailable\n")
    ip = forwarded.client_ip(headers.get("x-forwarded-for"), peer, trusted) if rule.networks else ""
    why = rule.refusal(who.identity, ip)
    if why is not None:
        log.info("denied %r (%s) on %r by %s: %s", who.identity.username, scheme, original.hostname, rule.name, why)
        audit.event(
            "access.denied",
            method=original.method,
            user=who.identity.username,
            sub=who.identity.sub,
            host=original.hostname,
            path=original.path,
            client_ip=forwarded.client_ip(headers.get("x-forwarded-for"), peer, trusted),
            rule=rule.name,
            reason=why,
            by=scheme,
        )
        metrics.auth_checks.inc("denied")
        return Reply(403, body=f"forbidden: {why}\n".encode())
    metrics.auth_checks.inc("ok")
    ok: Reply | None = who.memo.ok
    if ok is None:
        ok = who.memo.ok = Reply(200, identity_headers(who.identity, who.access_token, header_sets, meta))
    if not forward and not passed:
        return ok
    # The API client's own Authorization goes on to the app, as a browser's does (unless the IdP's
    # Basic credentials replace it).
    return Reply(200, [*ok.headers, *passed_on(forward, passed)])
