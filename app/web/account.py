"""After signing in: ``/sign_out``, ``/backchannel_logout`` (the IdP's), ``/userinfo``, ``/ping``."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app import audit, metrics
from app.clients import lane
from app.cookies import set_cookie
from app.errors import BadRequest, IdPRejected, IdPUnavailable, StoreUnavailable, TokenValidationError
from app.oidc.client import unverified_audience
from app.types import hostname_of
from app.web.common import NO_STORE, audit_fields, gateway, origin_and_target, origin_of, page
from app.web.pages import signed_out_page

log = logging.getLogger("authgate.account")


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
            audit.event(
                "session.signed_out",
                **audit_fields(gw, request),
                user=data.identity.username if data else "",
                sub=data.identity.sub if data else "",
            )
    except StoreUnavailable:
        return page(
            503,
            "Sign-out is unavailable",
            "The session store cannot be reached. Try again shortly.",
            str(request.url),
        )
    after = rd or f"{scheme}://{host}/"
    target = await oidc.end_session_url(id_token=id_token, post_logout_redirect_uri=after) if id_token else None
    clear = set_cookie(gw.site.cookie_name, "", max_age=0, secure=scheme == "https", domain=gw.site.cookie_domain)
    if target or rd:
        resp: Response = RedirectResponse(target or rd, status_code=302, headers=NO_STORE)
    else:
        resp = HTMLResponse(signed_out_page(after).decode(), headers=NO_STORE)
    resp.headers.append("set-cookie", clear)
    return resp


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
        ended = await gw.sessions.logout_once(logout, lane=lane(oidc))
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
        Route(f"{prefix}/backchannel_logout", backchannel_logout, methods=["POST"]),
        Route(f"{prefix}/userinfo", userinfo),
        Route(f"{prefix}/ping", ping),
    ]
