"""Reading the Cookie header and writing Set-Cookie values.

Pure logic. authgate's own cookies (the session and the login cookies) are for authgate only:
``without`` gives the Cookie header the app may see, which the recipes make the proxy forward
in place of the browser's (docs/security.md). ``CookieReader`` is the hot path's view of a
Cookie header: its verified tickets and that filtered header, remembered per exact header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from authgate.lru import ByteLRU
from authgate.session.tickets import Ticket, TicketSigner

#: A Cookie header longer than this is not searched for tickets (its owner is not signed in):
#: browsers send far less (nginx refuses a header line over 8 KB by default), and reading one is
#: work a client must not be able to multiply.
MAX_COOKIE_HEADER = 32768
#: Session cookie values verified per request (a host and a domain cookie, a stale copy ...).
MAX_TICKETS = 4
_REMEMBERED_BUDGET = 8 * 1024 * 1024  # characters of remembered Cookie headers
_REMEMBERED_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class CookieView:
    """What authgate makes of one Cookie header: the verified session tickets in it, and the
    header without authgate's own cookies (what the app may see), as bytes ready to send."""

    tickets: tuple[Ticket, ...]
    forward: bytes


class CookieReader:
    """Reads Cookie headers for one gateway: its session cookie's name, its login cookies' prefix.

    A browser sends the same header request after request, and the answer depends only on it and
    the keys read at startup: it is remembered per exact header (bounded in bytes; a forged value
    is remembered as no ticket). This is the only memo of verified tickets.
    """

    def __init__(self, signer: TicketSigner, session_cookie: str, login_prefix: str) -> None:
        self.signer = signer
        self.session_cookie = session_cookie
        self.login_prefix = login_prefix
        self._views: ByteLRU[CookieView] = ByteLRU(_REMEMBERED_BUDGET, max_key=_REMEMBERED_LENGTH)

    def read(self, header: str) -> CookieView:
        view = self._views.get(header)
        if view is None:
            view = self._view(header)
            self._views.put(header, view)
        return view

    def tickets(self, header: str) -> tuple[Ticket, ...]:
        """The verified session tickets in a Cookie header."""
        return self.read(header).tickets

    def is_ours(self, name: str) -> bool:
        return name == self.session_cookie or name.startswith(self.login_prefix)

    def _view(self, header: str) -> CookieView:
        tickets: tuple[Ticket, ...] = ()
        if len(header) <= MAX_COOKIE_HEADER:
            values = cookie_values(header, self.session_cookie, limit=MAX_TICKETS)
            found = (self.signer.loads(v) for v in values)
            tickets = tuple(t for t in found if t is not None)
        forward = without(header, self.is_ours) if self.session_cookie in header else header
        return CookieView(tickets, forward.encode("latin-1"))


def cookie_values(header: str, name: str, *, limit: int = 8) -> tuple[str, ...]:
    """The first ``limit`` values of cookie ``name`` in a Cookie header (a host and a domain
    cookie may both be sent; a client sending thousands gets the first few looked at)."""
    if name not in header:
        return ()
    values = []
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            values.append(value.strip().strip('"'))
            if len(values) >= limit:
                break
    return tuple(values)


def cookies_named(header: str, prefix: str, *, limit: int = 16) -> dict[str, str]:
    """The first ``limit`` cookies whose names start with ``prefix`` (name to first value)."""
    found: dict[str, str] = {}
    if prefix not in header:
        return found
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key.startswith(prefix) and key not in found:
            found[key] = value.strip().strip('"')
            if len(found) >= limit:
                break
    return found


def without(header: str, is_ours: Callable[[str], bool]) -> str:
    """``header`` without the cookies whose names ``is_ours``; the others as they were sent."""
    kept = [part.strip() for part in header.split(";") if part.strip() and not is_ours(part.strip().partition("=")[0])]
    return "; ".join(kept)


def set_cookie(
    name: str,
    value: str,
    *,
    max_age: int,
    secure: bool,
    domain: str = "",
    path: str = "/",
) -> str:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if max_age <= 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if secure:
        parts.append("Secure")
    if domain:
        parts.append(f"Domain={domain}")
    return "; ".join(parts)
