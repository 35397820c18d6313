"""Is this request a browser navigation (worth a sign-in redirect) or a sub-resource / API call?

Pure logic. Sub-resources (favicon, images, XHR, fetch) must never start a sign-in: they would
pile up login cookies and push out the ones of real sign-ins. Nor may a WebSocket handshake: it
cannot follow a redirect, so it must get the 401 itself (whatever Accept it sends).
"""

from __future__ import annotations

from collections.abc import Mapping


def is_navigation(method: str, headers: Mapping[str, str], *, strict: bool) -> bool:
    """``strict`` (forward auth): ``Accept`` must name text/html. Otherwise (/start, reached by a
    redirect) a browser's ``Sec-Fetch-*`` decides when present, and any Accept of html or */*."""
    if method not in ("GET", "HEAD"):
        return False
    # A protocol upgrade (WebSocket): Traefik drops the hop-by-hop Upgrade from the auth check, the
    # handshake's own Sec-WebSocket-Key stays.
    if "upgrade" in headers or "sec-websocket-key" in headers:
        return False
    if headers.get("x-requested-with", "").lower() == "xmlhttprequest":
        return False
    mode = headers.get("sec-fetch-mode")
    if mode is not None and mode != "navigate":
        return False
    dest = headers.get("sec-fetch-dest")
    if dest is not None and dest not in ("document", "iframe", "frame", "embed", "object", "empty"):
        return False
    accept = headers.get("accept", "")
    if strict:
        return "text/html" in accept
    return not accept or "text/html" in accept or "*/*" in accept
