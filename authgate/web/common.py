"""What the browser routes share: the gateway, the origin the browser used, ``rd``, pages.

Every failure a person can meet ends on a page that says what went wrong and how to go on;
never a stack trace, never a redirect loop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from authgate.access import forwarded
from authgate.access.redirects import validate_redirect
from authgate.access.request import hostname_of
from authgate.errors import BadRequest
from authgate.web.pages import error_page
from authgate.web.raw import Reply
from authgate.wiring.gateway import Gateway

log = logging.getLogger("authgate.web")

NO_STORE = {"Cache-Control": "no-store"}
_ESCAPED_PATH = re.compile(r"^(https?://[^/?#%]+)((?:%2f|%3f).*)$", re.I)


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def origin_of(gw: Gateway, request: Request) -> tuple[str, str]:
    """(scheme, host) the browser used: from the headers the trusted proxy sets (authgate.access.forwarded
    ``browser_origin``), else our own Host."""
    headers = {k: v for k, v in request.headers.items()}
    trusted = gw.trusted.contains(request.client.host if request.client else None)
    return forwarded.browser_origin(headers, scheme=request.url.scheme, trusted=trusted)


def audit_fields(gw: Gateway, request: Request) -> dict[str, str]:
    """An audit line's request fields: the host, path (no query: it may carry a code), method, client."""
    peer = request.client.host if request.client else None
    return {
        "host": hostname_of(request.headers.get("host", "")),
        "path": request.url.path,
        "method": request.method,
        "client_ip": forwarded.client_ip(request.headers.get("x-forwarded-for"), peer, gw.trusted),
    }


def origin_and_target(
    gw: Gateway, request: Request, title: str, retry: Callable[[str], str]
) -> tuple[str, str, str] | Response:
    """A browser route's (scheme, host) and its validated ``rd`` ("" when none), or the 400 page
    ``title`` saying why not (with ``retry(origin)`` as the way on, once the origin is known)."""
    try:
        scheme, host = origin_of(gw, request)
    except BadRequest as exc:
        log.warning("%s: %s", title, exc)
        return page(400, title, str(exc), None)
    try:
        return scheme, host, redirect_target(gw, request, scheme, host)
    except BadRequest as exc:
        log.warning("%s: %s", title, exc)
        return page(400, title, str(exc), retry(f"{scheme}://{host}"))


def page(status: int, title: str, message: str, retry: str | None) -> HTMLResponse:
    return HTMLResponse(error_page(title, message, retry).decode(), status_code=status, headers=NO_STORE)


def as_response(reply: Reply) -> Response:
    """A hot-path ``Reply`` (the shared sign-in start) as a framework response."""
    resp = Response(reply.body, status_code=reply.status, headers=NO_STORE)
    for name, value in reply.wire:
        if name not in (b"content-length", b"cache-control"):
            resp.headers.append(name.decode(), value.decode("latin-1"))
    return resp


def rd_from_query(raw_query: str) -> str:
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


def redirect_target(gw: Gateway, request: Request, scheme: str, host: str) -> str:
    """The ``rd`` of this request made absolute and validated (authgate.access.redirects), or "" when none was given.

    Raises ``InvalidRedirect`` for a target that is not allowed.
    """
    rd = rd_from_query(request.url.query)
    if rd.startswith("/") and not rd.startswith("//"):
        rd = f"{scheme}://{host}{rd}"  # Authentik's own snippet sends rd=$request_uri
    if not rd:
        return ""
    return valid_target(gw, rd, host)


def valid_target(gw: Gateway, target: str, host: str) -> str:
    """``target`` when a browser at ``host`` may be sent there: that host, the cookie domain of its
    app (its own domain-level mode, else the global one) or an allowed redirect domain; else
    ``InvalidRedirect``."""
    cookie_domain = gw.domain_for(hostname_of(host)).cookie_domain
    return validate_redirect(
        target, request_host=host, cookie_domain=cookie_domain, allowed_domains=gw.site.redirect_domains
    )
