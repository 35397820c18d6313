"""The browser and IdP routes: /start, /callback, /sign_out, /backchannel_logout, /userinfo.

Every failure a person can meet ends on a page that says what went wrong and how to retry;
never a stack trace, never a redirect loop.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app import forwarded, metrics
from app.errors import (
    BadRequest,
    IdPRejected,
    IdPUnavailable,
    StoreUnavailable,
    TokenValidationError,
)
from app.redirects import validate_redirect
from app.types import hostname_of
from app.web.cookies import cookie_values, set_cookie
from app.web.gateway import Gateway
from app.web.navigation import is_navigation
from app.web.pages import error_page, signed_out_page
from app.web.raw import Reply
from app.web.signin import begin_sign_in

log = logging.getLogger("authgate.flow")

NO_STORE = {"Cache-Control": "no-store"}
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
_ESCAPED_PATH = re.compile(r"^(https?://[^/?#%]+)((?:%2f|%3f).*)$", re.I)


def _gw(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def _origin(gw: Gateway, request: Request) -> tuple[str, str]:
    """(scheme, host) the browser used: from the trusted proxy's headers, else our own Host."""
    headers = {k: v for k, v in request.headers.items()}
    trusted = gw.trusted.contains(request.client.host if request.client else None)
    if trusted and headers.get("x-original-url"):
        original = forwarded.from_original(headers, default_scheme=request.url.scheme)
        return original.scheme, original.host
    return forwarded.public_origin(headers, scheme=request.url.scheme, trusted=trusted)


def _page(status: int, title: str, message: str, retry: str | None) -> HTMLResponse:
    return HTMLResponse(error_page(title, message, retry).decode(), status_code=status, headers=NO_STORE)


def _response(reply: Reply) -> Response:
    """A hot-path ``Reply`` (the shared sign-in start) as a framework response."""
    resp = Response(reply.body, status_code=reply.status, headers=NO_STORE)
    for name, value in reply.wire:
        if name not in (b"content-length", b"cache-control"):
            resp.headers.append(name.decode(), value.decode("latin-1"))
    return resp


def _rd_from_query(raw_query: str) -> str:
    """``rd`` as nginx snippets send it: often *not* URL-encoded (``rd=$scheme://$http_host$request_uri``),
    so an unencoded URL takes the rest of the query string, its own ``&`` included."""
    if not raw_query.startswith("rd="):
        for part in raw_query.split("&"):
            if part.startswith("rd="):
                return unquote(part[3:])
        return ""
    value = raw_query[3:]
    if value[:7].lower() in ("http%3a", "https%3"):
        return unquote(value.split("&", 1)[0])
    # ingress-nginx / Authentik docs: rd=$scheme://$http_host$escaped_request_uri (only the path escaped)
    escaped_path = _ESCAPED_PATH.match(value)
    if escaped_path:
        return escaped_path.group(1) + unquote(escaped_path.group(2))
    return value


def _redirect_target(gw: Gateway, request: Request, scheme: str, host: str) -> str:
    """The ``rd`` of this request made absolute and validated (app.redirects), or "" when none was given.

    Raises ``InvalidRedirect`` for a target that is not allowed.
    """
    rd = _rd_from_query(request.url.query)
    if rd.startswith("/") and not rd.startswith("//"):
        rd = f"{scheme}://{host}{rd}"  # Authentik's own snippet sends rd=$request_uri
    if not rd:
        return ""
    return validate_redirect(
        rd,
        request_host=host,
        cookie_domain=gw.settings.cookie_domain,
        allowed_domains=gw.settings.allowed_redirect_domains,
    )


def build_router(prefix: str) -> APIRouter:
    router = APIRouter()

    @router.get(prefix + "/start")
    async def start(request: Request) -> Response:
        gw = _gw(request)
        try:
            scheme, host = _origin(gw, request)
        except BadRequest as exc:
            log.warning("start refused: %s", exc)
            return _page(400, "This sign-in link is not valid", str(exc), None)
        origin = f"{scheme}://{host}"
        try:
            rd = _redirect_target(gw, request, scheme, host) or f"{origin}/"
        except BadRequest as exc:
            log.warning("start refused: %s", exc)
            return _page(400, "This sign-in link is not valid", str(exc), gw.start_url(origin, f"{origin}/"))
        headers = dict(request.headers.items())
        if not is_navigation(request.method, headers, strict=False):
            return Response("sign-in required\n", status_code=401, headers=NO_STORE)
        reply = await begin_sign_in(
            gw, origin=origin, original_url=rd, cookie_header=headers.get("cookie", ""), secure=scheme == "https"
        )
        return _response(reply)

    @router.get(prefix + "/callback")
    async def callback(request: Request) -> Response:
        gw = _gw(request)
        q = request.query_params
        try:
            scheme, host = _origin(gw, request)
        except BadRequest as exc:
            return _page(400, "Sign-in failed", str(exc), None)
        origin = f"{scheme}://{host}"
        fresh_start = gw.start_url(origin, origin + "/")
        cookie_header = request.headers.get("cookie", "")
        state = q.get("state", "")
        login_cookies = cookie_values(cookie_header, gw.login.cookie_name(state)) if state else ()
        if q.get("error"):
            error = q.get("error", "")
            original = gw.login.abandon(state, login_cookies)
            retry = gw.start_url(origin, original) if original else fresh_start
            # Untrusted text: logged escaped, and only a known error code is shown.
            log.info("the IdP returned an error to the callback: %r", error[:100])
            metrics.sign_ins.labels("idp_error").inc()
            said = OAUTH_ERRORS.get(error, "the sign-in did not complete")
            return _page(
                400,
                "Sign-in was not completed",
                f"The identity provider said: {said} ({error if error in OAUTH_ERRORS else 'unknown error'}).",
                retry,
            )
        try:
            finished = await gw.login.finish(state=state, code=q.get("code", ""), values=login_cookies)
        except StoreUnavailable:
            return _page(
                503, "Sign-in is unavailable", "The session store cannot be reached. Try again shortly.", fresh_start
            )
        except IdPUnavailable as exc:
            log.error("callback: %s", exc)
            metrics.sign_ins.labels("idp_unavailable").inc()
            return _page(503, "Sign-in is unavailable", f"The identity provider cannot be reached: {exc}", fresh_start)
        except IdPRejected as exc:
            log.warning("callback: the IdP refused the code: %s", exc)
            metrics.sign_ins.labels("rejected").inc()
            return _page(
                400,
                "Sign-in failed",
                f"The identity provider refused the sign-in ({exc.error}). "
                "This happens when a sign-in link is used twice or too late.",
                fresh_start,
            )
        except TokenValidationError as exc:
            log.error("callback: ID token rejected: %s", exc)
            metrics.sign_ins.labels("invalid_token").inc()
            return _page(
                400, "Sign-in failed", f"The identity provider's answer could not be trusted: {exc}", fresh_start
            )
        except BadRequest as exc:
            log.warning("callback refused: %s", exc)
            metrics.sign_ins.labels("bad_state").inc()
            return _page(400, "Sign-in failed", str(exc), fresh_start)
        metrics.sign_ins.labels("ok").inc()
        target = finished.original_url
        secure = target.startswith("https://") or scheme == "https"
        resp = RedirectResponse(target, status_code=302, headers=NO_STORE)
        domain = gw.settings.cookie_domain
        resp.headers.append(
            "set-cookie",
            set_cookie(
                gw.cookie_name,
                gw.signer.dumps(finished.ticket),
                max_age=gw.settings.session_ttl,
                secure=secure,
                domain=domain,
            ),
        )
        # This sign-in's login cookie is spent.
        used = set_cookie(finished.cookie_name, "", max_age=0, secure=secure, domain=domain, path=gw.prefix)
        resp.headers.append("set-cookie", used)
        return resp

    @router.api_route(prefix + "/sign_out", methods=["GET", "POST"])
    async def sign_out(request: Request) -> Response:
        gw = _gw(request)
        try:
            scheme, host = _origin(gw, request)
        except BadRequest as exc:
            return _page(400, "This sign-out link is not valid", str(exc), None)
        try:
            rd = _redirect_target(gw, request, scheme, host)
        except BadRequest as exc:
            return _page(400, "This sign-out link is not valid", str(exc), f"{scheme}://{host}{gw.prefix}/sign_out")
        id_token = ""
        try:
            for ticket in gw.tickets(request.headers.get("cookie", "")):
                data = await gw.sessions.load(ticket)
                id_token = data.id_token if data else id_token
                await gw.sessions.delete(ticket.session_id)
                metrics.logouts.labels("sign_out").inc()
        except StoreUnavailable:
            return _page(
                503,
                "Sign-out is unavailable",
                "The session store cannot be reached. Try again shortly.",
                str(request.url),
            )
        after = rd or f"{scheme}://{host}/"
        target = await gw.oidc.end_session_url(id_token=id_token, post_logout_redirect_uri=after) if id_token else None
        clear = set_cookie(gw.cookie_name, "", max_age=0, secure=scheme == "https", domain=gw.settings.cookie_domain)
        if target or rd:
            resp: Response = RedirectResponse(target or rd, status_code=302, headers=NO_STORE)
        else:
            resp = HTMLResponse(signed_out_page(after).decode(), headers=NO_STORE)
        resp.headers.append("set-cookie", clear)
        return resp

    @router.post(prefix + "/backchannel_logout")
    async def backchannel_logout(request: Request) -> Response:
        gw = _gw(request)
        try:
            form = await request.form()
            token = form.get("logout_token")
            if not isinstance(token, str) or not token:
                raise TokenValidationError("no logout_token")
            logout = await gw.oidc.validate_logout_token(token)
            ended = await gw.sessions.logout_once(logout)
        except (TokenValidationError, IdPRejected) as exc:
            log.warning("back-channel logout refused: %s", exc)
            return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, 400, headers=NO_STORE)
        except (StoreUnavailable, IdPUnavailable) as exc:
            log.error("back-channel logout failed: %s", exc)
            return JSONResponse({"error": "temporarily_unavailable"}, 503, headers=NO_STORE)
        metrics.logouts.labels("backchannel").inc(ended)
        log.info("back-channel logout ended %d session(s)", ended)
        return Response(status_code=200, headers=NO_STORE)

    @router.get(prefix + "/userinfo")
    async def userinfo(request: Request) -> Response:
        gw = _gw(request)
        try:
            hostname = hostname_of(_origin(gw, request)[1])
            for ticket in gw.tickets(request.headers.get("cookie", "")):
                data = await gw.sessions.load(ticket)
                if data and gw.opens(data, hostname):
                    i = data.identity
                    return JSONResponse(
                        {
                            "sub": i.sub,
                            "preferred_username": i.username,
                            "email": i.email,
                            "name": i.name,
                            "groups": list(i.groups),
                        },
                        headers=NO_STORE,
                    )
        except StoreUnavailable:
            return JSONResponse({"error": "session store unavailable"}, 503, headers=NO_STORE)
        except BadRequest:
            return JSONResponse({"error": "bad request"}, 400, headers=NO_STORE)
        return JSONResponse({"error": "not signed in"}, 401, headers=NO_STORE)

    @router.get(prefix + "/ping")
    async def ping() -> Response:
        return Response(status_code=204)

    return router
