"""Browser navigation vs sub-resource / API call."""

from __future__ import annotations

import pytest

from authgate.web.navigation import is_navigation

FIREFOX_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CHROME_HTML = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
NAVIGATE = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-site": "none"}


def nav(method: str = "GET", *, strict: bool, **headers: str) -> bool:
    return is_navigation(method, {k.replace("_", "-"): v for k, v in headers.items()}, strict=strict)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("accept", [FIREFOX_HTML, CHROME_HTML, "text/html"])
def test_browser_page_load_is_a_navigation(strict: bool, accept: str) -> None:
    assert is_navigation("GET", {"accept": accept, **NAVIGATE}, strict=strict) is True
    assert is_navigation("GET", {"accept": accept}, strict=strict) is True  # no Sec-Fetch-* (old browser)
    assert is_navigation("HEAD", {"accept": accept}, strict=strict) is True


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("dest", ["iframe", "frame", "embed", "object"])
def test_frames_are_navigations(strict: bool, dest: str) -> None:
    headers = {"accept": "text/html", "sec-fetch-mode": "navigate", "sec-fetch-dest": dest}
    assert is_navigation("GET", headers, strict=strict) is True


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "headers",
    [
        # Firefox favicon
        {
            "accept": "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
            "sec-fetch-dest": "image",
            "sec-fetch-mode": "no-cors",
        },
        # Chrome favicon
        {
            "accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
            "sec-fetch-dest": "image",
            "sec-fetch-mode": "no-cors",
        },
        # favicon without Sec-Fetch-* headers
        {"accept": "image/*"},
        # Sec-Fetch-Dest image even with a broad Accept
        {"accept": "*/*", "sec-fetch-dest": "image"},
        {"accept": "text/html", "sec-fetch-dest": "image"},
    ],
)
def test_favicon_is_not_a_navigation(strict: bool, headers: dict[str, str]) -> None:
    assert is_navigation("GET", headers, strict=strict) is False


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "headers",
    [
        {"accept": "text/html", "x-requested-with": "XMLHttpRequest"},
        {"accept": "text/html", "x-requested-with": "xmlhttprequest"},
        {"accept": FIREFOX_HTML, "x-requested-with": "XMLHTTPREQUEST", **NAVIGATE},
        {"accept": "*/*", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"},
        {"accept": "text/html", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"},
        {"accept": "text/html", "sec-fetch-mode": "same-origin"},
        {"accept": "text/html", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script"},
        {"accept": "text/css,*/*;q=0.1", "sec-fetch-dest": "style"},
        {"accept": "text/html", "sec-fetch-mode": "navigate", "sec-fetch-dest": "script"},
        {"accept": "text/html", "sec-fetch-mode": "websocket", "sec-fetch-dest": "websocket"},
        {"accept": "application/json"},
    ],
)
def test_xhr_fetch_and_subresources_are_not_navigations(strict: bool, headers: dict[str, str]) -> None:
    assert is_navigation("GET", headers, strict=strict) is False


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"])
def test_non_get_head_is_not_a_navigation(strict: bool, method: str) -> None:
    assert is_navigation(method, {"accept": FIREFOX_HTML, **NAVIGATE}, strict=strict) is False


@pytest.mark.parametrize(
    ("headers", "strict_answer", "lenient_answer"),
    [
        ({}, False, True),  # no Accept at all
        ({"accept": ""}, False, True),
        ({"accept": "*/*"}, False, True),  # curl
        ({"accept": "*/*", **NAVIGATE}, False, True),
        ({"accept": "application/json, */*"}, False, True),
        ({"accept": "application/json"}, False, False),
        ({"accept": "text/html"}, True, True),
        ({"accept": "image/webp"}, False, False),
    ],
)
def test_strict_vs_lenient(headers: dict[str, str], strict_answer: bool, lenient_answer: bool) -> None:
    assert is_navigation("GET", headers, strict=True) is strict_answer
    assert is_navigation("GET", headers, strict=False) is lenient_answer


def test_helper_sanity() -> None:
    assert nav(strict=True, accept="text/html", sec_fetch_mode="navigate") is True
    assert nav(strict=True, accept="text/html", sec_fetch_mode="cors") is False


WS_KEY = {"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13"}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "headers",
    [
        # A browser's `new WebSocket(...)`: no Accept, Sec-Fetch-* say websocket.
        {"sec-fetch-mode": "websocket", "sec-fetch-dest": "websocket", "upgrade": "websocket", **WS_KEY},
        # Only the destination says so (an older browser, or a proxy that dropped the mode).
        {"accept": "text/html", "sec-fetch-dest": "websocket"},
        # A non-browser client that sends Accept: text/html on its handshake, or even navigation's
        # Sec-Fetch-*: the upgrade itself decides.
        {"accept": FIREFOX_HTML, "upgrade": "websocket"},
        {"accept": FIREFOX_HTML, "upgrade": "WebSocket", **NAVIGATE},
        # Traefik drops the hop-by-hop Upgrade from the check: the handshake's key stays.
        {"accept": "text/html", **WS_KEY},
        {"accept": "text/html", **NAVIGATE, "sec-websocket-key": ""},
        # Any other upgrade (h2c) is no page load either.
        {"accept": "text/html", "upgrade": "h2c"},
        {"accept": "text/html", "upgrade": ""},
    ],
)
def test_a_websocket_handshake_is_never_a_navigation(strict: bool, headers: dict[str, str]) -> None:
    """A handshake cannot follow a redirect: it must get the 401 itself, never a 302."""
    assert is_navigation("GET", headers, strict=strict) is False
