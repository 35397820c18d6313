"""Starting a sign-in: the one path behind the forward-auth redirect and ``/start``.

The login state goes into a cookie of its own (``authgate.session.login``); nothing is stored. The answer
is a complete ``Reply``: a 302 to the IdP with the cookies to set and drop, or a page saying
why the sign-in cannot start and how to retry.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from authgate.access.request import hostname_of
from authgate.errors import IdPError, ReturnURLTooLong
from authgate.observability import tracing
from authgate.session.cookies import cookies_named, set_cookie
from authgate.web.pages import error_page
from authgate.web.raw import Reply
from authgate.wiring.gateway import Gateway

log = logging.getLogger("authgate.signin")

HTML = b"text/html; charset=utf-8"


async def begin_sign_in(gw: Gateway, *, origin: str, original_url: str, cookie_header: str, secure: bool) -> Reply:
    """Send the browser to the IdP, to come back to ``original_url`` (already validated)."""
    with tracing.span("sign_in.start"):
        return await _begin(gw, origin, original_url, cookie_header, secure)


async def _begin(gw: Gateway, origin: str, original_url: str, cookie_header: str, secure: bool) -> Reply:
    held = cookies_named(cookie_header, gw.login.cookie_prefix)
    app = gw.app_for(hostname_of(urlsplit(origin).netloc))
    domain = app.domain or gw.site.domain  # the app's domain-level mode: its login cookie, its callback
    try:
        begun = await gw.login.begin(
            original_url=original_url,
            redirect_uri=gw.site.callback_url(origin, domain),
            held=held,
            client=app.client,
        )
    except ReturnURLTooLong as exc:
        log.warning("sign-in refused: %s", exc)
        retry = gw.site.start_url(origin, domain=domain)
        page = error_page("This address is too long", f"Sign-in cannot return to it: {exc}.", retry)
        return Reply(414, body=page, content_type=HTML)
    except IdPError as exc:
        log.error("cannot start sign-in: %s", exc)
        page = error_page(
            "Sign-in is unavailable",
            "The identity provider cannot be reached right now.",
            gw.site.start_url(origin, original_url, domain),
        )
        return Reply(503, body=page, content_type=HTML)
    site = gw.site

    def cookie(name: str, value: str, max_age: int) -> tuple[bytes, bytes]:
        header = set_cookie(name, value, max_age=max_age, secure=secure, domain=domain.cookie_domain, path=site.prefix)
        return b"set-cookie", header.encode()

    headers = [
        (b"location", begun.authorization_url.encode()),
        cookie(begun.cookie_name, begun.cookie_value, gw.login.ttl),
    ]
    headers += [cookie(name, "", 0) for name in begun.dropped]
    return Reply(302, headers)
