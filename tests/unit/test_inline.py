"""A gateway route answered inside a forward-auth check (authgate/web/inline.py), with a real Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from authgate.access.request import OriginalRequest
from authgate.web import inline

PATH = "/outpost.goauthentik.io/sign_out"


async def signed_out_page(request: Request) -> Response:
    resp = HTMLResponse(f"<p>signed out {request.query_params.get('n', '')}</p>")
    resp.headers.append("set-cookie", "authgate_session=; Max-Age=0")
    return resp


async def redirect(request: Request) -> Response:
    # What the route saw of the request, in the Location, for the test to read.
    seen = f"{request.method},{request.url.path},{request.url.query},{request.headers.get('x-original-url', '-')}"
    resp = RedirectResponse(f"https://idp.test/?{seen}", status_code=302)
    resp.headers.append("set-cookie", "login=sealed")
    return resp


API = Starlette(routes=[Route(PATH, signed_out_page), Route("/outpost.goauthentik.io/callback", redirect)])


def check_scope() -> dict[str, object]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/outpost.goauthentik.io/auth/caddy",
        "raw_path": b"/outpost.goauthentik.io/auth/caddy",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"authgate:9000"),
            (b"x-forwarded-host", b"app.test"),
            (b"x-original-url", b"http://evil.test/"),
            (b"cookie", b"a=b"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 9000),
    }


async def test_a_redirect_is_handed_back_with_its_cookies_and_the_request_asked_about() -> None:
    original = OriginalRequest("http", "app.test", "/outpost.goauthentik.io/%63allback", "code=c&state=s", "GET")
    reply = await inline.answer(API, check_scope(), original, "/outpost.goauthentik.io/callback")
    assert reply.status == 302
    headers = dict(reply.headers)
    assert headers[b"set-cookie"] == b"login=sealed"
    # The route saw the request asked about (method, path, query), never a client's X-Original-URL.
    assert headers[b"location"] == b"https://idp.test/?GET,/outpost.goauthentik.io/callback,code=c&state=s,-"
    assert (b"cache-control", b"no-store") in reply.wire


async def test_a_2xx_is_never_handed_back_as_a_pass() -> None:
    """A 2xx would let the request through to whatever the proxy routes it to: the page is shown as a 401."""
    original = OriginalRequest("http", "app.test", PATH, "n=1", "GET")
    reply = await inline.answer(API, check_scope(), original, PATH)
    assert reply.status == 401
    assert reply.body == b"<p>signed out 1</p>"
    assert reply.content_type.startswith(b"text/html")
    assert (b"set-cookie", b"authgate_session=; Max-Age=0") in reply.headers
    assert [n for n, _ in reply.wire].count(b"content-length") == 1
