"""The path as the app will serve it: the canonical form rules decide on, and when a spelling is
ambiguous, every reading an app may make of it. Also the path a server routes on (``routed_path``).

Pure logic: no I/O. A proxy forwards the path as the client wrote it, and servers disagree about
what it names: nginx, Apache, Tomcat and Spring merge ``//``; Tomcat and Jetty drop ``;params``
(``..;`` is ``..``); IIS and many frameworks read ``\\`` and ``%5c`` as ``/``; some apps decode
twice; a raw ``#`` ends the path for some; Windows drops a name's trailing dots. So the rules decide
on one **canonical form** (decoded once, ``;params`` dropped from every segment, repeated slashes
merged, ``.`` and ``..`` resolved), and a path that takes more than its decoding to get there, or
whose meaning depends on the app, is *ambiguous*: it is never public, and it meets the rule of every
reading in ``PathForms.readings()`` (authgate/access/policy.py: the strictest wins).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes

#: Decoding rounds inspected: the path as sent, decoded once (what the app sees), and twice
#: more for apps that decode again.
_ROUNDS = 3
# Anything that may need a closer look: an escape, a backslash, a raw '#', a ';', a control, space
# or non-ASCII character, a repeated slash, or a segment ending in a dot ("." and ".." included).
_SUSPECT = re.compile(r"[%\\#;]|[^\x21-\x7e]|//|\.(?:/|$)")
# An encoded "/" or "\" : the app may split the segment where the proxy did not.
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.I)
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_MERGED_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True, slots=True)
class PathForms:
    """A path as sent, its canonical form, and whether it is ambiguous."""

    raw: str
    canonical: str
    ambiguous: bool

    def readings(self) -> tuple[str, ...]:
        """The canonical form first; for an ambiguous path, every other reading of it too. Worked
        out on each call, never kept: a memoised parse stays about the size of its URL (the readings
        of an 8 KB path could be ten times that)."""
        if not self.ambiguous:
            return (self.canonical,)
        return _readings(self.raw, _decode(self.raw)[0], self.canonical)


def path_forms(raw: str) -> PathForms:
    """``raw`` (a path as a proxy sends it, without the query) in the forms the rules read."""
    if _SUSPECT.search(raw) is None:
        return PathForms(raw, raw, False)  # the common case: one regex search
    decoded, utf8 = _decode(raw)
    canonical = canonical_path(decoded)
    return PathForms(raw, canonical, not utf8 or canonical != decoded or _app_dependent(raw))


def canonical_path(decoded: str) -> str:
    """A decoded path with ``;params`` dropped from every segment, repeated slashes merged and dot
    segments resolved (Tomcat's reading, the strictest of the common servers)."""
    if ";" in decoded:
        decoded = "/".join(segment.partition(";")[0] for segment in decoded.split("/"))
    return _resolved(decoded)


def _resolved(path: str) -> str:
    """Repeated slashes merged, ``.`` and ``..`` segments resolved (nginx's reading)."""
    path = _MERGED_SLASHES.sub("/", path)
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


def _decode(raw: str) -> tuple[str, bool]:
    """``raw`` percent-decoded once as UTF-8, and whether its bytes were UTF-8 at all (when not,
    the bytes that are not read as U+FFFD)."""
    try:
        # Header values arrive as latin-1 text: back to the bytes the client sent.
        data = raw.encode("latin-1")
    except UnicodeEncodeError:
        data = raw.encode("utf-8", "replace")  # text from elsewhere (a test, `rules explain`)
    decoded = unquote_to_bytes(data)
    try:
        return decoded.decode("utf-8"), True
    except UnicodeDecodeError:
        return decoded.decode("utf-8", "replace"), False


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
        or _windows_names(path) != path
    )


def _app_dependent(raw: str) -> bool:
    """Whether what ``raw`` names depends on the app: a dot-segment in any spelling (raw, encoded,
    double-encoded, with ``;parameters``), a backslash in any spelling, an encoded ``/``, a raw
    ``#``, a control character or space, a name ending in a dot, or bytes that are not UTF-8."""
    current = raw
    for _ in range(_ROUNDS):
        if _ambiguous_round(current):
            return True
        if "%" not in current:
            return False
        try:
            current = unquote_to_bytes(current.encode("latin-1")).decode("utf-8")
        except UnicodeError:
            return True
    return False


def _windows_names(path: str) -> str:
    """Each name without its trailing dots (Windows opens ``web.config.`` as ``web.config``)."""
    return "/".join(s if s in (".", "..") else s.rstrip(".") for s in path.split("/"))


def _variants(decoded: str) -> Iterator[str]:
    """What other apps make of the decoded path: decoded again (up to twice), each with ``\\`` read
    as ``/`` (and Windows' names), and ending at a raw ``#``."""
    level = decoded
    for depth in range(_ROUNDS):
        if depth and "%" not in level:
            return
        if depth:
            level = unquote(level)  # undecodable bytes read as U+FFFD
        yield level
        slashed = level.replace("\\", "/")
        yield slashed
        yield _windows_names(slashed)
        yield level.partition("#")[0]


def _readings(raw: str, decoded: str, canonical: str) -> tuple[str, ...]:
    """Every path an app may take ``raw`` for, the canonical form first: as sent, and each variant
    as it is, as nginx resolves it and in canonical form. Each distinct spelling is resolved once:
    an 8 KB path costs a few passes, not dozens."""
    resolved: dict[str, str] = {}

    def views(path: str) -> tuple[str, str, str]:
        if path not in resolved:
            resolved[path] = _resolved(path)
        nginx = resolved[path]
        return path, nginx, canonical_path(path) if ";" in path else nginx

    seen = dict.fromkeys((canonical, *views(raw)))
    for variant in dict.fromkeys(_variants(decoded)):
        seen.update(dict.fromkeys(views(variant)))
    return tuple(seen)


def routed_path(raw: str) -> str:
    """``raw`` as a server routes it: percent-decoded once, repeated slashes merged, ``.`` and ``..``
    segments resolved (nginx's ``location`` matching, and the path nginx passes on to authgate).

    For telling whether a URL names one of the gateway's own routes, however it is spelled: nginx
    sends ``/outpost.goauthentik.io//auth/nginx`` or ``/outpost.goauthentik.io/%61uth/nginx`` to
    authgate's auth check. Undecodable bytes stay as they were.
    """
    if "%" not in raw and "//" not in raw and "/." not in raw:
        return raw  # the common case: nothing to decode, merge or resolve
    return _resolved(unquote(raw, errors="surrogateescape"))
