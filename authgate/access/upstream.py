"""Headers the IdP asks authgate to send upstream: Authentik's ``ak_proxy`` claim, checked.

Pure logic: no I/O. Authentik's proxy scope mapping sends ``ak_proxy.user_attributes``: the
user's and their groups' attributes. Two of its uses reach the app as request headers:

- ``additionalHeaders`` (a name → value mapping): extra headers for the app;
- HTTP Basic credentials for the app, from two attributes named in the settings
  (``AUTHGATE_AUTHENTIK_BASIC_AUTH_*_ATTRIBUTE``): ``Authorization: Basic base64(user:pass)``.

Every name and value is hostile: an IdP administrator sets them, but in some setups users can
edit their own attributes. A header that would replace an identity header, a hop-by-hop or
security-relevant one (Host, Cookie, Authorization, Content-Length, X-Forwarded-* ...), a name
that is not plain letters, digits and dashes, a value with a control character, and anything
past the count and size bounds is left out, and said so (by name only: values may be secrets).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from authgate.access.identity_headers import ALL_IDENTITY_HEADERS

MAX_HEADERS = 16
MAX_NAME_LENGTH = 64
MAX_VALUE_BYTES = 4096
MAX_TOTAL_BYTES = 8192  # names and values of every header sent, together

# Letters, digits and dashes: no "_" (WSGI, PHP and CGI apps read "_" as "-": a look-alike of a
# header the proxy sets) and none of the other token characters, which no real header needs.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")  # whole names only (fullmatch: "$" would allow a final "\n")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is the one control a value may hold
#: Names the IdP may never set (lower-case): authgate's own, hop-by-hop and framing headers, and
#: those the proxy or the app trusts for routing, client address or credentials.
RESERVED = frozenset(
    {
        *ALL_IDENTITY_HEADERS,
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "te",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
        "expect",
        "location",
        "forwarded",
        "via",
        "x-real-ip",
    }
)
RESERVED_PREFIXES = ("x-forwarded-", "x-original-", "proxy-", "sec-", "x-authgate-")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Where the HTTP Basic credentials for the app are among the user's attributes (off when no
    password attribute is named). A missing username attribute falls back to the email address,
    and no password means no header, as Authentik's outpost does."""

    username_attribute: str = ""
    password_attribute: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.password_attribute)


NO_BASIC_AUTH = BasicAuth()


@dataclass(frozen=True, slots=True)
class Upstream:
    """The headers to send (already checked), and what was left out: (name, why)."""

    headers: tuple[tuple[str, str], ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()


def refusal(name: str) -> str | None:
    """Why an additional header's name is refused, or None."""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        return "not a plain header name (letters, digits and dashes, at most 64)"
    lower = name.lower()
    if lower in RESERVED or lower.startswith(RESERVED_PREFIXES):
        return "a header authgate, the proxy or the app relies on"
    return None


def _value(raw: Any) -> str | None:
    """A header value from a claim: a string or an integer (as Authentik's outpost takes them)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    return str(raw).strip(" \t")


def _attributes(claims: dict[str, Any]) -> dict[str, Any]:
    proxy = claims.get("ak_proxy")
    attributes = proxy.get("user_attributes") if isinstance(proxy, dict) else None
    return attributes if isinstance(attributes, dict) else {}


def _basic(claims: dict[str, Any], attributes: dict[str, Any], basic: BasicAuth) -> str:
    if not basic.enabled:
        return ""
    password = attributes.get(basic.password_attribute)
    username = attributes.get(basic.username_attribute) if basic.username_attribute else None
    if not isinstance(username, str):
        username = claims.get("email")
    if not isinstance(password, str) or not password or not isinstance(username, str):
        return ""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _why_left_out(name: str, value: str | None, seen: set[str]) -> str | None:
    """Why an additional header is left out, or None."""
    why = refusal(name)
    if why is not None:
        return why
    if name.lower() in seen:
        return "repeated (names are case-insensitive)"
    if value is None:
        return "its value is not a string or a number"
    if _CONTROL.search(value):
        return "its value holds a control character (CR, LF ...)"
    if len(value.encode()) > MAX_VALUE_BYTES:
        return f"its value is longer than {MAX_VALUE_BYTES} bytes"
    return None


def from_claims(claims: dict[str, Any], basic: BasicAuth = NO_BASIC_AUTH) -> Upstream:
    """The headers the claims ask for, checked; empty when there is no ``ak_proxy`` claim."""
    attributes = _attributes(claims)
    out: list[tuple[str, str]] = []
    left_out: list[tuple[str, str]] = []
    credentials = _basic(claims, attributes, basic)
    if len(credentials) > MAX_VALUE_BYTES:
        left_out.append(("Authorization", f"the basic credentials are longer than {MAX_VALUE_BYTES} bytes"))
    elif credentials:
        out.append(("Authorization", credentials))
    total, count = 0, 0
    extra = attributes.get("additionalHeaders")
    seen: set[str] = set()
    for name, raw in extra.items() if isinstance(extra, dict) else ():
        value = _value(raw)
        why = _why_left_out(name, value, seen)
        if why is None and value is not None:  # value is a string whenever nothing is wrong
            size = len(name) + len(value.encode())
            if count >= MAX_HEADERS:
                why = f"more than {MAX_HEADERS} additional headers"
            elif total + size > MAX_TOTAL_BYTES:
                why = f"the additional headers together are longer than {MAX_TOTAL_BYTES} bytes"
            elif value:  # an empty value sends nothing
                seen.add(name.lower())
                out.append((name, value))
                total, count = total + size, count + 1
        if why is not None:
            left_out.append((str(name)[:MAX_NAME_LENGTH], why))
    return Upstream(tuple(out), tuple(left_out))
