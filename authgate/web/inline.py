"""The gateway's own browser routes asked about in a forward-auth check: answered by the route.

Authentik's older Caddy snippet (no ``route`` block) runs ``forward_auth`` before its
``reverse_proxy /outpost.goauthentik.io/*``, for the gateway's own paths too, and a Traefik router
ranked above the gateway's does likewise: the IdP's redirect back to ``/callback`` then arrives as an
auth check. Answered like a page (a new sign-in), the sign-in never finishes. Let through (a 2xx),
the request goes on to whatever the proxy routes it to: the protected app itself when the proxy does
not route the prefix to authgate. So /start, /callback and /sign_out are answered here by the route
itself: Traefik and Caddy hand a non-2xx answer, with its Location and Set-Cookie, to the browser,
and nothing reaches the app. The routes answer with redirects and error pages; the one 2xx (the
signed-out page, when there is nowhere to redirect) is handed over as a 401, so it is shown too.
"""

from __future__ import annotations

from authgate.access.request import OriginalRequest
from authgate.web.raw import ASGIApp, Message, Reply, Scope

# The nginx-style headers name the request too, and the routes prefer them; a forward-auth check's
# request is the one in X-Forwarded-* (set by the proxy), a client may send these through.
_DROPPED = frozenset((b"x-original-url", b"x-original-uri", b"x-original-host", b"x-original-method"))
_FRAMING = frozenset((b"content-length", b"content-type", b"cache-control"))


async def answer(api: ASGIApp, scope: Scope, original: OriginalRequest, path: str) -> Reply:
    """Run the route at ``path`` (the app's view of ``original.path``) for the check in ``scope``."""
    route_scope = {
        **scope,
        "method": original.method,
        "path": path,
        "raw_path": original.path.encode("latin-1"),
        "query_string": original.query.encode("latin-1"),
        "headers": [(n, v) for n, v in scope["headers"] if n not in _DROPPED],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await api(route_scope, receive, send)
    nothing: Message = {"status": 500, "headers": []}
    start = sent[0] if sent and sent[0]["type"] == "http.response.start" else nothing
    status = int(start["status"])
    if status < 300:
        status = 401  # a 2xx would tell the proxy to let the request through: never
    headers = [(bytes(n), bytes(v)) for n, v in start["headers"]]
    body = b"".join(m.get("body", b"") for m in sent[1:] if m["type"] == "http.response.body")
    content_type = next((v for n, v in headers if n == b"content-type"), b"text/plain; charset=utf-8")
    return Reply(status, [(n, v) for n, v in headers if n not in _FRAMING], body, content_type)
