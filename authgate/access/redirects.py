"""Redirect validation: where ``rd`` and the original URL may send a browser.

Pure logic: no I/O. A target is allowed when it is an absolute http(s) URL whose host is the
host the request arrived on, under the cookie domain (dot boundary), or under an allowed
redirect domain. Anything else raises ``InvalidRedirect``.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from authgate.access.forwarded import MAX_URL_LENGTH
from authgate.errors import InvalidRedirect


def host_matches(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or a subdomain of it, on a dot boundary.

    A domain written with a leading dot (``.example.com``) matches subdomains only.
    """
    host = host.lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    if domain.startswith("."):
        return host.endswith(domain) and len(host) > len(domain)
    return host == domain or host.endswith("." + domain)


def validate_redirect(
    target: str,
    *,
    request_host: str,
    cookie_domain: str = "",
    allowed_domains: Iterable[str] = (),
) -> str:
    """Return ``target`` if a browser may be sent there, else raise ``InvalidRedirect``.

    ``request_host`` is the host the request arrived on (with or without a port).
    """
    if not target or len(target) > MAX_URL_LENGTH:
        raise InvalidRedirect("missing or over-long redirect target")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target) or "\\" in target:
        raise InvalidRedirect("redirect target contains control characters, spaces or backslashes")
    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidRedirect("malformed redirect target") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRedirect("redirect target must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidRedirect("redirect target must not carry credentials")
    request_hostname = urlsplit(f"//{request_host}").hostname or ""
    if host == request_hostname.lower():
        return target
    if cookie_domain and host_matches(host, cookie_domain):
        return target
    if any(host_matches(host, d) for d in allowed_domains if d):
        return target
    raise InvalidRedirect(f"redirect to host {host!r} is not allowed")
