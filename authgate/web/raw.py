"""Minimal raw-ASGI request/response helpers for the hot path (no framework machinery)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NO_STORE = (b"cache-control", b"no-store")
EMPTY = (b"content-length", b"0")


@dataclass(slots=True)
class Reply:
    """A complete response. Its header block is built once, at construction: a reply memoised
    per session (the hot path's 200) is then sent with no per-request header work of ours."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    content_type: bytes = b"text/plain; charset=utf-8"
    wire: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)
    # The same block as HTTP/1.1 bytes, made by the wire door (authgate/web/wire.py) when first sent.
    http: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        framing: tuple[tuple[bytes, bytes], ...]
        if self.body:
            framing = ((b"content-type", self.content_type), (b"content-length", str(len(self.body)).encode()))
        else:
            framing = (EMPTY,)
        self.wire = (*framing, NO_STORE, *self.headers)


def request_headers(scope: Scope, wanted: Mapping[bytes, str]) -> dict[str, str]:
    """``pick_headers`` of an ASGI scope."""
    return pick_headers(scope["headers"], wanted)


def pick_headers(raw: Iterable[tuple[bytes, bytes]], wanted: Mapping[bytes, str]) -> dict[str, str]:
    """The ``wanted`` headers (lower-case byte names, mapped to the str names returned) with
    latin-1 values (never fails); the first of repeated names wins, except Cookie, whose repeats
    are joined as HTTP/2 splits them. The hot path reads a handful of a browser's dozens, so no
    other header is decoded (ASGI servers send names lower-cased)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = wanted.get(raw_name)
        if name is None:
            continue
        if name in out:
            if name == "cookie":
                out[name] += "; " + raw_value.decode("latin-1")
            continue
        out[name] = raw_value.decode("latin-1")
    return out


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def send_reply(send: Send, reply: Reply, request_id: str | None = None) -> None:
    """Send ``reply``; with ``request_id``, its ``X-Request-Id`` too (a cached allow has none)."""
    wire = reply.wire if not request_id else (*reply.wire, (b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": wire})
    await send({"type": "http.response.body", "body": reply.body})
