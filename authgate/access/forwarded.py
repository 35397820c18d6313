"""Which request is the proxy asking about? Parsing of X-Original-* and X-Forwarded-*.

Pure logic: no I/O. Forwarded headers are believed only from trusted proxies; from anyone
else the request's own Host and scheme are used. Malformed input raises
``InvalidForwardedHeaders``.

What decides access comes from the proxy, never from the client (docs/security.md):
- the method only from ``X-Original-Method`` / ``X-Forwarded-Method``: without it the method is
  unknown ("") and no ``METHOD=`` rule can match;
- for nginx without ``X-Original-URL``, the host only from ``Host`` (nginx sets it), never from a
  client's ``X-Forwarded-Host``, which ``auth_request`` passes on;
- ``X-Original-Host`` (the recipes send nginx's ``$host``, the host it routed on) must name the
  same host as ``X-Original-URL`` (built from the client's Host header, for its port): an
  absolute-form request line (``GET http://a.test/`` with ``Host: b.test``) is refused;
- a raw ``#`` is kept in the path (the app may not read it as the end of the path).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from authgate.access.request import OriginalRequest, hostname_of
from authgate.errors import InvalidForwardedHeaders
from authgate.lru import ByteLRU

MAX_URL_LENGTH = 8192
_HOST_RE = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$")
_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")
_NOT_VISIBLE_ASCII = re.compile(r"[^\x21-\x7e]")
# scheme://authority path ?query (one C-level match on the hot path). A proxy sends the request
# line's target, which has no fragment: a "#" there was sent raw by the client and stays in the
# path or query (where authgate.access.paths reads it as ambiguous), never dropped.
_ABSOLUTE_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?]*)(?:\?(.*))?", re.S)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of CIDRs; ``contains(ip)`` answers whether a peer's forwarded headers are believed."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self.contains = lru_cache(maxsize=1024)(self._contains)

    def _contains(self, ip: str | None) -> bool:
        if not ip:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self._networks)


@lru_cache(maxsize=4096)  # pure, and hosts are few: the protected host names
def clean_host(host: str) -> str:
    """Lower-case and check a Host value; raise on anything that is not a plain host[:port]."""
    host = host.strip().lower()
    match = _HOST_RE.match(host) if host and len(host) <= 260 else None
    if match is None or (match.group(1) is not None and not 0 < int(match.group(1)) < 65536):
        raise InvalidForwardedHeaders("malformed host")
    return host


def _check_path(path: str) -> str:
    if not path.startswith("/") or len(path) > MAX_URL_LENGTH:
        raise InvalidForwardedHeaders("malformed or over-long path")
    if _NOT_VISIBLE_ASCII.search(path):
        raise InvalidForwardedHeaders("path contains control, space or non-ASCII characters")
    return path


@lru_cache(maxsize=64)
def _method(value: str | None) -> str:
    """The method the proxy named, or "" when it named none (then no ``METHOD=`` rule matches)."""
    if not value:
        return ""
    method = value.strip().upper()
    if not _METHOD_RE.match(method):
        raise InvalidForwardedHeaders("malformed method")
    return method


#: X-Forwarded-Proto's values and the scheme of the page they stand for: Traefik says ``ws`` and
#: ``wss`` for a WebSocket handshake, whose page (and cookies) are http and https.
_PROTOS = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def _scheme(proto: str) -> str:
    """The first of an ``X-Forwarded-Proto`` list, which must be http or https (or ws, wss)."""
    scheme = _PROTOS.get(proto.split(",", maxsplit=1)[0].strip().lower())
    if scheme is None:
        raise InvalidForwardedHeaders("malformed X-Forwarded-Proto")
    return scheme


def _split_uri(uri: str) -> tuple[str, str]:
    path, _, query = _check_path(uri).partition("?")
    return path, query


# Parsing is pure and the same URLs come back again and again (every reload, every user of a
# dashboard): parsed results are kept, bounded by bytes (a client sending long distinct URLs
# cannot grow it past the budget). Errors are not kept.
PARSED: ByteLRU[OriginalRequest] = ByteLRU(4 * 1024 * 1024, max_key=MAX_URL_LENGTH + 512)


def _parse_and_remember(key: str, parse: Callable[[], OriginalRequest]) -> OriginalRequest:
    parsed = parse()
    PARSED.put(key, parsed)
    return parsed


def from_original(headers: Mapping[str, str], *, default_scheme: str) -> OriginalRequest:
    """nginx auth_request: ``X-Original-URL`` (absolute), or ``X-Original-URI`` + ``Host``."""
    url = headers.get("x-original-url")
    method = headers.get("x-original-method")
    routed = headers.get("x-original-host")
    if url:
        key = f"u\n{method or ''}\n{'-' if routed is None else '=' + routed}\n{url}"
        return PARSED.get(key) or _parse_and_remember(key, lambda: _from_original_url(url, _method(method), routed))
    # Without X-Original-URL the host is nginx's Host, never a client's X-Forwarded-Host
    # (auth_request passes every client header on to authgate).
    host = headers.get("host")
    proto = headers.get("x-forwarded-proto") or default_scheme
    uri = headers.get("x-original-uri")
    key = f"i\n{method or ''}\n{'-' if routed is None else '=' + routed}\n{host}\n{proto}\n{uri}"
    return PARSED.get(key) or _parse_and_remember(
        key, lambda: _from_original_uri(uri, host, proto, _method(method), routed)
    )


def _check_routed(host: str, routed: str | None) -> None:
    """``routed``: the host nginx routed the request on (``$host``), when the recipe sends it."""
    if routed is not None and hostname_of(clean_host(routed)) != host:
        raise InvalidForwardedHeaders("the request names two hosts (absolute-form request line and Host header)")


def _from_original_url(url: str, method: str, routed: str | None) -> OriginalRequest:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidForwardedHeaders("X-Original-URL is over-long")
    parts = _ABSOLUTE_URL.fullmatch(url.strip())
    scheme = parts.group(1).lower() if parts else ""
    if parts is None or scheme not in ("http", "https") or not parts.group(2):
        raise InvalidForwardedHeaders("X-Original-URL is not an absolute http(s) URL")
    path = _check_path(parts.group(3) or "/")
    query = parts.group(4) or ""
    if _NOT_VISIBLE_ASCII.search(query):
        raise InvalidForwardedHeaders("query contains control, space or non-ASCII characters")
    original = OriginalRequest(scheme, clean_host(parts.group(2)), path, query, method)
    _check_routed(original.hostname, routed)
    return original


def _from_original_uri(
    uri: str | None, host: str | None, proto: str, method: str, routed: str | None
) -> OriginalRequest:
    if not uri or not host:
        raise InvalidForwardedHeaders("neither X-Original-URL nor X-Original-URI with Host was sent")
    path, query = _split_uri(uri.strip())
    original = OriginalRequest(_scheme(proto), clean_host(host), path, query, method)
    _check_routed(original.hostname, routed)
    return original


def from_forwarded(headers: Mapping[str, str], *, default_scheme: str) -> OriginalRequest:
    """Traefik forwardAuth / Caddy forward_auth: ``X-Forwarded-Proto``, ``-Host``, ``-Uri``, ``-Method``."""
    host = headers.get("x-forwarded-host")
    proto = headers.get("x-forwarded-proto") or default_scheme
    uri = headers.get("x-forwarded-uri") or "/"
    method = headers.get("x-forwarded-method")
    key = f"f\n{method or ''}\n{host}\n{proto}\n{uri}"
    return PARSED.get(key) or _parse_and_remember(key, lambda: _from_forwarded(host, proto, uri, method))


def _from_forwarded(host: str | None, proto: str, uri: str, method: str | None) -> OriginalRequest:
    if not host:
        raise InvalidForwardedHeaders("X-Forwarded-Host was not sent")
    path, query = _split_uri(uri.strip())
    return OriginalRequest(_scheme(proto), clean_host(host.split(",")[0]), path, query, _method(method))


def public_origin(headers: Mapping[str, str], *, scheme: str, trusted: bool) -> tuple[str, str]:
    """The (scheme, host) a browser used to reach authgate's own routes (/start, /callback ...)."""
    if trusted:
        fwd_host = headers.get("x-forwarded-host")
        fwd_proto = headers.get("x-forwarded-proto")
        if fwd_proto and fwd_proto.split(",")[0].strip().lower() in _PROTOS:
            scheme = _scheme(fwd_proto)
        if fwd_host:
            return scheme, clean_host(fwd_host.split(",")[0])
    host = headers.get("host")
    if not host:
        raise InvalidForwardedHeaders("no Host header")
    return scheme, clean_host(host)


def browser_origin(headers: Mapping[str, str], *, scheme: str, trusted: bool) -> tuple[str, str]:
    """The (scheme, host) a browser used to reach authgate's own routes (/start, /sign_out ...).

    Each proxy sets one family of headers and passes the other on from the client: Traefik and
    Caddy always set ``X-Forwarded-Host`` (and ``-Proto``) and pass a client's ``X-Original-URL`` on;
    the nginx recipes set ``X-Original-URL`` and pass a client's ``X-Forwarded-Host`` on. So from a
    trusted proxy: with ``X-Forwarded-Host``, the origin is the ``X-Forwarded-*`` one; with only
    ``X-Original-URL``, that one's; with both naming different hosts, one was written by the client
    and the request is refused. (A load balancer in front of nginx that sets ``X-Forwarded-Host``
    names the same host.)
    """
    if not trusted or not headers.get("x-original-url"):
        return public_origin(headers, scheme=scheme, trusted=trusted)
    original = from_original(headers, default_scheme=scheme)
    if not headers.get("x-forwarded-host"):
        return original.scheme, original.host
    fwd_scheme, fwd_host = public_origin(headers, scheme=original.scheme, trusted=True)
    if hostname_of(fwd_host) != original.hostname:
        raise InvalidForwardedHeaders("the request names two hosts (X-Original-URL and X-Forwarded-Host)")
    return fwd_scheme, fwd_host


MAX_FORWARDED_FOR_HOPS = 16  # entries of X-Forwarded-For looked at, from the right


def client_ip(forwarded_for: str | None, peer: str | None, trusted: TrustedProxies) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the right-most entry of
    ``X-Forwarded-For`` that is not itself a trusted proxy (all trusted: the left-most, a client on
    the proxies' own network); "" when unknown (then no network rule matches). Entries left of an
    untrusted one were written by the client and are never read.

    Every shipped recipe has the proxy in front of authgate write the address it saw (replacing what
    the client sent); an address inside AUTHGATE_TRUSTED_PROXIES is taken for a proxy, so network
    rules are exact when that list names only the proxies (docs/security.md).
    """
    if not peer:
        return ""
    if not forwarded_for or not trusted.contains(peer):
        return _plain_ip(peer)
    end = len(forwarded_for)
    for _ in range(MAX_FORWARDED_FOR_HOPS):  # bounded: a 1 MB header costs 16 hops from its end
        start = forwarded_for.rfind(",", 0, end) + 1
        ip = _plain_ip(forwarded_for[start:end].strip())
        if not ip:
            return ""  # a malformed hop: what is left of it cannot be placed
        if not trusted.contains(ip) or start == 0:
            return ip  # the first untrusted hop; or all are proxies: the first hop
        end = start - 1
    return ""  # more hops than are read: unknown


def _plain_ip(value: str) -> str:
    """``value`` as a normalised IP address ("" when it is not one; IPv4-mapped IPv6 as IPv4)."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)
