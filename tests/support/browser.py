"""A scripted browser: httpx with a cookie jar; ``*.test`` names resolve to 127.0.0.1."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

NAV_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "User-Agent": "authgate-tests",
}


class LoopbackTransport(httpx.BaseTransport):
    """Sends requests for ``*.test`` hosts to 127.0.0.1, keeping URL and Host as the browser sees them."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.host.endswith(".test"):
            headers = httpx.Headers(request.headers)
            request = httpx.Request(
                request.method,
                url.copy_with(host="127.0.0.1"),
                headers=headers,
                content=request.read(),
                extensions=request.extensions,
            )
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class Browser:
    def __init__(self) -> None:
        self.http = httpx.Client(transport=LoopbackTransport(), follow_redirects=False, timeout=20.0)
        self.history: list[httpx.Response] = []

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**NAV_HEADERS, **kwargs.pop("headers", {})}
        return self.http.get(url, headers=headers, **kwargs)

    def follow(self, response: httpx.Response, *, limit: int = 15, sub: str = "alice") -> httpx.Response:
        """Follow redirects as a browser would; at the IdP's sign-in form, sign in as ``sub``."""
        for _ in range(limit):
            self.history.append(response)
            if response.status_code in (301, 302, 303, 307, 308):
                target = urljoin(str(response.request.url), response.headers["location"])
                response = self.get(target)
                continue
            if _is_idp_form(response):
                response = self.http.post(
                    str(response.request.url), data={"sub": sub}, headers={"Accept": NAV_HEADERS["Accept"]}
                )
                continue
            return response
        raise AssertionError("too many redirects: " + " -> ".join(str(r.request.url) for r in self.history[-6:]))

    def visit(self, url: str, *, sub: str = "alice") -> httpx.Response:
        return self.follow(self.get(url), sub=sub)

    def cookie_names(self, host: str) -> list[str]:
        return [c.name for c in self.http.cookies.jar if c.domain.lstrip(".") in (host, host + ".local")]


def _is_idp_form(response: httpx.Response) -> bool:
    """The sign-in form of oidc-provider-mock (/oauth2/authorize) or of the node IdP (/interaction/<uid>)."""
    path = urlsplit(str(response.request.url)).path
    is_form_path = path.endswith("/oauth2/authorize") or path.startswith("/interaction/")
    return response.status_code == 200 and is_form_path and response.request.method == "GET"
