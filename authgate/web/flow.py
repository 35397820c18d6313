"""Signing in: ``/start`` and ``/callback`` (the browser's side of the code flow).

The sign-in itself starts in authgate/web/signin.py, shared with the forward-auth redirect.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from authgate.access.request import hostname_of
from authgate.errors import (
    AuthgateError,
    BadRequest,
    IdPError,
    IdPRejected,
    IdPUnavailable,
    StoreUnavailable,
    TokenValidationError,
)
from authgate.observability import audit, metrics, tracing
from authgate.session.cookies import cookie_values, set_cookie
from authgate.web.common import NO_STORE, as_response, audit_fields, gateway, origin_and_target, origin_of, page
from authgate.web.navigation import is_navigation
from authgate.web.signin import begin_sign_in
from authgate.wiring.gateway import Gateway

log = logging.getLogger("authgate.flow")

#: The error codes an IdP may send back to the callback (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6):
#: only these are shown; anything else a link could carry is not repeated on our page.
OAUTH_ERRORS = {
    "access_denied": "access was denied",
    "invalid_request": "the sign-in request was not valid",
    "unauthorized_client": "this application may not sign people in this way",
    "unsupported_response_type": "the sign-in request was not understood",
    "invalid_scope": "a requested scope is not allowed",
    "server_error": "the identity provider failed",
    "temporarily_unavailable": "the identity provider is temporarily unavailable",
    "interaction_required": "the identity provider needs you to interact",
    "login_required": "you need to sign in at the identity provider",
    "account_selection_required": "you need to choose an account",
    "consent_required": "consent is needed",
    "invalid_request_uri": "the sign-in request was not valid",
    "invalid_request_object": "the sign-in request was not valid",
    "request_not_supported": "the sign-in request was not understood",
    "request_uri_not_supported": "the sign-in request was not understood",
    "registration_not_supported": "the sign-in request was not understood",
}


async def start(request: Request) -> Response:
    gw = gateway(request)
    where = origin_and_target(gw, request, "This sign-in link is not valid", lambda o: _start(gw, o, f"{o}/"))
    if isinstance(where, Response):
        return where
    scheme, host, target = where
    origin = f"{scheme}://{host}"
    rd = target or f"{origin}/"
    headers = dict(request.headers.items())
    if not is_navigation(request.method, headers, strict=False):
        return Response("sign-in required\n", status_code=401, headers=NO_STORE)
    reply = await begin_sign_in(
        gw, origin=origin, original_url=rd, cookie_header=headers.get("cookie", ""), secure=scheme == "https"
    )
    audit.event("sign_in.started", **audit_fields(gw, request), status=reply.status)
    return as_response(reply)


async def callback(request: Request) -> Response:
    with tracing.span("sign_in.callback"):
        return await _callback(request)


async def _callback(request: Request) -> Response:
    gw = gateway(request)
    q = request.query_params
    try:
        scheme, host = origin_of(gw, request)
    except BadRequest as exc:
        return page(400, "Sign-in failed", str(exc), None)
    origin = f"{scheme}://{host}"
    app = gw.app_for(hostname_of(host))
    domain = app.domain or gw.site.domain
    fresh_start = gw.site.start_url(origin, origin + "/", domain)
    cookie_header = request.headers.get("cookie", "")
    state = q.get("state", "")
    login_cookies = cookie_values(cookie_header, gw.login.cookie_name(state)) if state else ()
    if q.get("error"):
        error = q.get("error", "")
        original = gw.login.abandon(state, login_cookies)
        retry = gw.site.start_url(origin, original, domain) if original else fresh_start
        # Untrusted text: logged escaped, and only a known error code is shown.
        audit.event("sign_in.failed", **audit_fields(gw, request), reason="idp_error", error=error[:100])
        metrics.sign_ins.labels("idp_error").inc()
        said = OAUTH_ERRORS.get(error, "the sign-in did not complete")
        return page(
            400,
            "Sign-in was not completed",
            f"The identity provider said: {said} ({error if error in OAUTH_ERRORS else 'unknown error'}).",
            retry,
        )
    try:
        finished = await gw.login.finish(state=state, code=q.get("code", ""), values=login_cookies, iss=q.get("iss"))
    except (StoreUnavailable, IdPError, BadRequest) as exc:
        why = _why(exc)
        audit.event("sign_in.failed", **audit_fields(gw, request), reason=why, error=str(exc))
        return _failed(exc, why, fresh_start)
    data = None
    with contextlib.suppress(StoreUnavailable):  # the sign-in is done: only the audit line would lack a name
        # Who signed in, for the audit line; it also puts the session in this replica's cache.
        data = await gw.sessions.load(finished.ticket)
    audit.event(
        "sign_in.completed",
        **audit_fields(gw, request),
        user=data.identity.username if data else "",
        sub=data.identity.sub if data else "",
    )
    metrics.sign_ins.labels("ok").inc()
    target = finished.original_url
    secure = target.startswith("https://") or scheme == "https"
    resp = RedirectResponse(target, status_code=302, headers=NO_STORE)
    cookie_domain = domain.cookie_domain
    # As long as the app's sessions last (a provider's access_token_validity bounds its cookie too).
    max_age = min(app.session_ttl or gw.site.session_ttl, gw.site.session_ttl)
    resp.headers.append(
        "set-cookie",
        set_cookie(
            gw.site.cookie_name, gw.signer.dumps(finished.ticket), max_age=max_age, secure=secure, domain=cookie_domain
        ),
    )
    # This sign-in's login cookie is spent.
    used = set_cookie(finished.cookie_name, "", max_age=0, secure=secure, domain=cookie_domain, path=gw.site.prefix)
    resp.headers.append("set-cookie", used)
    return resp


def _start(gw: Gateway, origin: str, rd: str) -> str:
    """The sign-in start of the app at ``origin`` (its own domain-level mode: at its auth host)."""
    host = hostname_of(urlsplit(origin).netloc)
    return gw.site.start_url(origin, rd, gw.domain_for(host))


def _why(exc: AuthgateError) -> str:
    """Why a callback failed, in one word (the audit line's ``reason``, the metric's label)."""
    if isinstance(exc, StoreUnavailable):
        return "store_unavailable"
    if isinstance(exc, IdPUnavailable):
        return "idp_unavailable"
    if isinstance(exc, IdPRejected):
        return "rejected"
    return "invalid_token" if isinstance(exc, TokenValidationError) else "bad_state"


def _failed(exc: AuthgateError, why: str, retry: str) -> Response:
    """The page for a callback that could not finish: what went wrong, and a fresh start."""
    if isinstance(exc, StoreUnavailable):
        status, title = 503, "Sign-in is unavailable"
        message = "The session store cannot be reached. Try again shortly."
    elif isinstance(exc, IdPUnavailable):
        status, title = 503, "Sign-in is unavailable"
        message = f"The identity provider cannot be reached: {exc}"
    elif isinstance(exc, IdPRejected):
        status, title = 400, "Sign-in failed"
        message = (
            f"The identity provider refused the sign-in ({exc.error}). "
            "This happens when a sign-in link is used twice or too late."
        )
    elif isinstance(exc, TokenValidationError):
        status, title = 400, "Sign-in failed"
        message = f"The identity provider's answer could not be trusted: {exc}"
    else:
        status, title, message = 400, "Sign-in failed", str(exc)
    log.log(logging.ERROR if status == 503 else logging.WARNING, "callback failed (%s): %s", why, exc)
    metrics.sign_ins.labels(why).inc()
    return page(status, title, message, retry)


def routes(prefix: str) -> list[Route]:
    return [Route(f"{prefix}/start", start), Route(f"{prefix}/callback", callback)]
