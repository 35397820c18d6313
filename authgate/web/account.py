"""After signing in: ``/sign_out`` and its return ``/signed_out``, the IdP's ``/backchannel_logout`` and
``/frontchannel_logout``, ``/userinfo``, ``/ping``."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from authgate.access.request import hostname_of
from authgate.errors import BadRequest, IdPRejected, IdPUnavailable, StoreUnavailable, TokenValidationError
from authgate.observability import audit, metrics
from authgate.oidc.clients import lane
from authgate.oidc.logout_tokens import unverified_audience
from authgate.session.cookies import set_cookie
from authgate.web.common import NO_STORE, audit_fields, gateway, origin_and_target, origin_of, page, valid_target
from authgate.web.pages import signed_out_page

log = logging.getLogger("authgate.account")

MAX_SID = 512  # longer than any IdP's session id or subject


async def sign_out(request: Request) -> Response:
    gw = gateway(request)
    where = origin_and_target(gw, request, "This sign-out link is not valid", lambda o: f"{o}{gw.site.prefix}/sign_out")
    if isinstance(where, Response):
        return where
    scheme, host, rd = where
    id_token, oidc = "", gw.oidc
    try:
        for ticket in gw.cookies.tickets(request.headers.get("cookie", "")):
            data = await gw.sessions.load(ticket)
            if data is not None:
                # The IdP's sign-out with the session's own client (an app may name its own).
                id_token, oidc = data.id_token, gw.sessions.client_of(data) or gw.oidc
            await gw.sessions.delete(ticket.session_id)
            metrics.logouts.labels("sign_out").inc()
            others = 0
            if data is not None and gw.outpost is not None:
                # As Authentik's outpost signs out: every session of this user with this client,
                # on every device (its next visit signs in again, silently while Authentik's lasts).
                others = await gw.sessions.logouts.logout(lane=lane(oidc), sub=data.identity.sub)
            audit.event(
                "session.signed_out",
                **audit_fields(gw, request),
                user=data.identity.username if data else "",
                sub=data.identity.sub if data else "",
                **({"others": others} if others else {}),
            )
    except StoreUnavailable:
        return page(
            503,
            "Sign-out is unavailable",
            "The session store cannot be reached. Try again shortly.",
            str(request.url),
        )
    after = rd or f"{scheme}://{host}/"
    domain = gw.domain_for(hostname_of(host))
    # The IdP returns only to a registered address: this host's /signed_out, with rd signed in state.
    back = gw.site.signed_out_url(f"{scheme}://{host}", domain)
    state = gw.returns.dumps(rd) if rd else ""
    target = None
    if id_token:
        target = await oidc.end_session_url(id_token=id_token, post_logout_redirect_uri=back, state=state)
    clear = set_cookie(gw.site.cookie_name, "", max_age=0, secure=scheme == "https", domain=domain.cookie_domain)
    if target or rd:
        resp: Response = RedirectResponse(target or rd, status_code=302, headers=NO_STORE)
    else:
        resp = HTMLResponse(signed_out_page(after).decode(), headers=NO_STORE)
    resp.headers.append("set-cookie", clear)
    return resp


async def signed_out(request: Request) -> Response:
    """Back from the IdP's end-session endpoint: on to the ``rd`` that ``state`` carries (signed,
    fresh, and valid for this host), else a page saying the user is signed out."""
    gw = gateway(request)
    try:
        scheme, host = origin_of(gw, request)
    except BadRequest as exc:
        log.warning("signed-out return: %s", exc)
        return page(400, "This sign-out link is not valid", str(exc), None)
    home = f"{scheme}://{host}/"
    rd = gw.returns.loads(request.query_params.get("state", ""))
    if rd:
        try:
            target = valid_target(gw, rd, host)
            return RedirectResponse(target, status_code=302, headers=NO_STORE)
        except BadRequest as exc:
            log.warning("signed-out return: %s", exc)
    return HTMLResponse(signed_out_page(home).decode(), headers=NO_STORE)


async def frontchannel_logout(request: Request) -> Response:
    """OpenID Connect Front-Channel Logout 1.0: the IdP's page loads this in an iframe when the user
    signs out there. The iframe sends no cookie (SameSite=Lax, or none at all in Firefox and Safari),
    so ``iss`` and ``sid`` name the sessions; an ``iss`` no client of this gateway trusts names none.
    Framing is allowed (no X-Frame-Options): that is how the IdP calls it."""
    gw = gateway(request)
    iss, sid = request.query_params.get("iss", ""), request.query_params.get("sid", "")
    issuers = {c.issuer.rstrip("/") for _, c in gw.clients.named()}
    if not iss or not sid or len(sid) > MAX_SID or iss.rstrip("/") not in issuers:
        audit.event("frontchannel_logout.refused", **audit_fields(gw, request), reason="unknown iss or no sid")
        return Response("iss and sid of a known issuer required\n", 400, headers=NO_STORE, media_type="text/plain")
    try:
        ended = await gw.sessions.logouts.logout_front(iss, sid)
    except StoreUnavailable as exc:
        log.error("front-channel logout failed: %s", exc)
        return Response("temporarily unavailable\n", 503, headers=NO_STORE, media_type="text/plain")
    metrics.logouts.labels("frontchannel").inc(ended)
    audit.event("session.frontchannel_logout", **audit_fields(gw, request), sid=sid, sessions=ended)
    return HTMLResponse("<!doctype html><title>Signed out</title>", headers=NO_STORE)


async def backchannel_logout(request: Request) -> Response:
    gw = gateway(request)
    try:
        form = await request.form()
        token = form.get("logout_token")
        if not isinstance(token, str) or not token:
            raise TokenValidationError("no logout_token")
        # Each app's client has its own issuer and audience: the token names the one to check it.
        oidc = gw.clients.for_token(*unverified_audience(token)) or gw.oidc
        logout = await oidc.validate_logout_token(token)
        # Only the sessions signed in with that client: another client's are not its to end.
        ended = await gw.sessions.logouts.logout_once(logout, lane=lane(oidc))
    except (TokenValidationError, IdPRejected) as exc:
        audit.event("backchannel_logout.refused", **audit_fields(gw, request), reason=str(exc))
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, 400, headers=NO_STORE)
    except (StoreUnavailable, IdPUnavailable) as exc:
        log.error("back-channel logout failed: %s", exc)
        audit.event("backchannel_logout.failed", **audit_fields(gw, request), reason=str(exc))
        return JSONResponse({"error": "temporarily_unavailable"}, 503, headers=NO_STORE)
    metrics.logouts.labels("backchannel").inc(ended)
    audit.event(
        "session.backchannel_logout", **audit_fields(gw, request), sub=logout.sub, sid=logout.sid, sessions=ended
    )
    return Response(status_code=200, headers=NO_STORE)


async def userinfo(request: Request) -> Response:
    gw = gateway(request)
    try:
        hostname = hostname_of(origin_of(gw, request)[1])
        for ticket in gw.cookies.tickets(request.headers.get("cookie", "")):
            data = await gw.sessions.load(ticket)
            if data and gw.site.opens(data, hostname):
                i = data.identity
                return JSONResponse(
                    {
                        "sub": i.sub,
                        "preferred_username": i.username,
                        "email": i.email,
                        "name": i.name,
                        "groups": list(i.groups),
                        "entitlements": list(i.entitlements),
                    },
                    headers=NO_STORE,
                )
    except StoreUnavailable:
        return JSONResponse({"error": "session store unavailable"}, 503, headers=NO_STORE)
    except BadRequest:
        return JSONResponse({"error": "bad request"}, 400, headers=NO_STORE)
    return JSONResponse({"error": "not signed in"}, 401, headers=NO_STORE)


async def ping(_: Request) -> Response:
    return Response(status_code=204)


def routes(prefix: str) -> list[Route]:
    return [
        Route(f"{prefix}/sign_out", sign_out, methods=["GET", "POST"]),
        Route(f"{prefix}/signed_out", signed_out),
        Route(f"{prefix}/backchannel_logout", backchannel_logout, methods=["POST"]),
        Route(f"{prefix}/frontchannel_logout", frontchannel_logout),
        Route(f"{prefix}/userinfo", userinfo),
        Route(f"{prefix}/ping", ping),
    ]
