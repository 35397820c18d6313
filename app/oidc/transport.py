"""Back-channel routing: server-to-server calls go to an internal address.

Every URL authgate fetches is the public one the IdP advertises; this httpx transport sends
requests for the public origin to ``BACKCHANNEL_URL`` instead, keeping ``Host`` (and
``X-Forwarded-Proto``) of the public URL. An IdP that builds its URLs and ``iss`` from the
Host header (Authentik does) thus answers exactly as it would to the public address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from app import tracing


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class BackchannelTransport(httpx.AsyncBaseTransport):
    def __init__(self, public_url: str, backchannel_url: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._public = _origin(public_url)
        self._internal = httpx.URL(backchannel_url)
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        if (url.scheme, url.host, port) == self._public:
            request.headers["X-Forwarded-Proto"] = url.scheme
            # Host stays the public one: httpx set it from the public URL already.
            request.url = url.copy_with(
                scheme=self._internal.scheme, host=self._internal.host, port=self._internal.port
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class TracedTransport(httpx.AsyncBaseTransport):
    """A span around every call to the IdP (only wrapped on while tracing is on). The URL is
    recorded without its query (a token request carries none; an authorization URL is never fetched)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        attributes = {"http.request.method": request.method, "url.full": str(url.copy_with(query=None))}
        with tracing.span(f"idp {request.method} {url.path}", **attributes) as span:
            response = await self._inner.handle_async_request(request)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()
