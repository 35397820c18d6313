"""The path an app will see, or "ambiguous": what public-path rules are matched against.

Pure logic: no I/O. A proxy forwards the request path as the client wrote it, and apps disagree
about what it means: Tomcat and Jetty resolve ``..;``, IIS and many frameworks read ``\\`` and
``%5c`` as ``/``, some apps decode twice, and a raw ``#`` ends the path for some and not for
others. A rule such as ``^/public/`` must never open ``/public/..;/admin``. So the path is
decoded once (what the app sees) and any spelling whose meaning depends on the app is
*ambiguous*: it is never public, it simply goes through the normal sign-in check.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_to_bytes

#: Decoding rounds inspected: the path as sent, decoded once (what the app sees), and twice
#: more for apps that decode again.
_ROUNDS = 3
# Anything that may need a closer look: an escape, a backslash, a raw '#', a control, space or
# non-ASCII character, or a "." / ".." segment (with or without ";parameters").
_SUSPECT = re.compile(r"[%\\#\x00-\x20\x7f-\uffff]|(?:^|/)\.{1,2}(?:[/;]|$)")
# An encoded "/" or "\" : the app may split the segment where the proxy did not.
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.I)
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def _has_dot_segment(path: str) -> bool:
    """A "." or ".." segment, also with ``;parameters`` (``..;``), as Tomcat and Jetty read it."""
    return any(segment.partition(";")[0] in (".", "..") for segment in path.split("/"))


def _ambiguous_round(path: str) -> bool:
    return (
        "\\" in path
        or "#" in path
        or _CONTROL_OR_SPACE.search(path) is not None
        or _ENCODED_SEPARATOR.search(path) is not None
        or _has_dot_segment(path)
    )


def app_path(raw: str) -> str | None:
    """``raw`` decoded once, as the app will see it; None when its meaning depends on the app.

    Ambiguous: a dot-segment in any spelling (raw, percent-encoded, double-encoded, with
    ``;parameters``), a backslash in any spelling, an encoded ``/``, a raw ``#``, a control
    character or space, or bytes that are not UTF-8.
    """
    if _SUSPECT.search(raw) is None:
        return raw  # nothing to decode and nothing ambiguous: the common case, one regex search
    if _ambiguous_round(raw):
        return None
    try:
        # Header values arrive as latin-1 text: back to the bytes the client sent, then decoded.
        decoded = unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
        current = decoded
        for _ in range(_ROUNDS - 1):
            if _ambiguous_round(current):
                return None
            if "%" not in current:
                break
            current = unquote_to_bytes(current).decode("utf-8")
    except UnicodeError:
        return None
    return decoded


_MERGED_SLASHES = re.compile(r"/{2,}")


def routed_path(raw: str) -> str:
    """``raw`` as a server routes it: percent-decoded once, repeated slashes merged, ``.`` and ``..``
    segments resolved (nginx's ``location`` matching, and the path nginx passes on to authgate).

    For telling whether a URL names one of the gateway's own routes, however it is spelled: nginx
    sends ``/outpost.goauthentik.io//auth/nginx`` or ``/outpost.goauthentik.io/%61uth/nginx`` to
    authgate's auth check. Undecodable bytes stay as they were.
    """
    if "%" not in raw and "//" not in raw and "/." not in raw:
        return raw  # the common case: nothing to decode, merge or resolve
    path = _MERGED_SLASHES.sub("/", unquote(raw, errors="surrogateescape"))
    resolved: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(resolved) > 1:
                resolved.pop()
        elif segment != ".":
            resolved.append(segment)
    if path.endswith(("/.", "/..")):
        resolved.append("")  # "/a/." and "/a/b/.." name the directory "/a/"
    return "/".join(resolved) or "/"
