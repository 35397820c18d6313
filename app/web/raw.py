"""Minimal raw-ASGI request/response helpers for the hot path (no framework machinery)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_HEADER_BYTES = 16384
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

    def __post_init__(self) -> None:
        framing: tuple[tuple[bytes, bytes], ...]
        if self.body:
            framing = ((b"content-type", self.content_type), (b"content-length", str(len(self.body)).encode()))
        else:
            framing = (EMPTY,)
        self.wire = (*framing, NO_STORE, *self.headers)


def request_headers(scope: Scope, wanted: frozenset[bytes] | None = None) -> dict[str, str]:
    """Lower-case names to values (latin-1, never fails); the first of repeated names wins,
    except Cookie, whose repeats are joined as HTTP/2 splits them. With ``wanted``, only
    those (lower-case) names are decoded: the hot path reads a handful of a browser's dozens."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        if wanted is not None and raw_name not in wanted:  # ASGI servers send names lower-cased
            continue
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name == "cookie" and name in out:
            out[name] += "; " + value
        else:
            out.setdefault(name, value)
    return out


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def send_reply(send: Send, reply: Reply) -> None:
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.wire})
    await send({"type": "http.response.body", "body": reply.body})
