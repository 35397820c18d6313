"""The HTTP layer under every call to the IdP: back-channel routing, and timing.

``TimedClient`` is the one place those calls pass: each is timed into
``authgate_idp_seconds{call}`` and, when it gets no answer or a 5xx, counted in
``authgate_idp_errors_total{call}``. Callers name the call in the request's extensions
(``call(name)``); an unnamed one counts as ``other``.

Every URL authgate fetches is the public one the IdP advertises; this httpx transport sends
requests for the public origin to ``BACKCHANNEL_URL`` instead, keeping ``Host`` (and
``X-Forwarded-Proto``) of the public URL. An IdP that builds its URLs and ``iss`` from the
Host header (Authentik does) thus answers exactly as it would to the public address.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from authgate.observability import metrics, tracing

CALL = "authgate.call"


def call(name: str) -> dict[str, Any]:
    """The request extensions that name an IdP call for the metrics (one of ``metrics.IDP_CALLS``)."""
    return {CALL: name}


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


class TimedClient(httpx.AsyncClient):
    """An httpx client that times every request it sends (``send`` is where every request passes,
    with the body read; a transport would do too, but handing httpx a transport turns off its
    proxy settings from the environment)."""

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        timed = metrics.idp_calls.get(request.extensions.get(CALL, "other")) or metrics.idp_calls["other"]
        url = request.url
        # A span per call while tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT); the URL without its query.
        attributes = {"http.request.method": request.method, "url.full": str(url.copy_with(query=None))}
        with tracing.span(f"idp {request.method} {url.path}", **attributes) as span:
            start = time.perf_counter()
            try:
                response = await super().send(request, **kwargs)
            except httpx.HTTPError:
                timed.errors.inc()
                raise
            finally:
                timed.seconds.observe(time.perf_counter() - start)
            if response.status_code >= 500:
                timed.errors.inc()
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
            return response
