"""Reading the Cookie header and writing Set-Cookie values (SPEC 5.5)."""

from __future__ import annotations


def cookie_values(header: str, name: str) -> tuple[str, ...]:
    """Every value of cookie ``name`` in a Cookie header (a host and a domain cookie may both be sent)."""
    if name not in header:
        return ()
    values = []
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            values.append(value.strip().strip('"'))
    return tuple(values)


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
