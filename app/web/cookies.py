"""Reading the Cookie header and writing Set-Cookie values.

Pure logic. authgate's own cookies (the session and the login cookies) are for authgate only:
``without`` gives the Cookie header the app may see, which the recipes make the proxy forward
in place of the browser's (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable


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
