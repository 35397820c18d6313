"""HTTP/1.1 bytes for the wire door (authgate/web/wire.py): status lines, header blocks, a Reply's
prebuilt bytes, and one ASGI request run with its response buffered.

authgate's routes send finite bodies, so a response is gathered whole and framed by its length; no
chunked encoding is written. Header names and values are checked as uvicorn checks them (nothing
that could end a line or a header), once per memoised Reply rather than once per request.
"""

from __future__ import annotations

import http
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast
from urllib.parse import unquote

import httptools

from authgate.web.raw import ASGIApp, Message, Reply

log = logging.getLogger("uvicorn.error")

_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY = (204, 304)
_FRAMING = (b"content-length", b"transfer-encoding")
SERVER_ERROR = (500, b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n\r\nInternal Server Error", b"")


def _status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase)


STATUS = {code: _status_line(code) for code in range(100, 600)}


def header_block(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``name: value`` lines; ValueError when a name or a value could split the response."""
    out = []
    for name, value in headers:
        if _BAD_NAME.search(name) or _BAD_VALUE.search(value):
            raise ValueError(f"invalid response header {bytes(name)!r}")
        out.append(b"%s: %s\r\n" % (name, value))
    return b"".join(out)


def reply_bytes(reply: Reply) -> bytes:
    """A reply's headers and body, as sent after the status line and the server's own headers;
    made once per Reply (the memoised 200 of a session is sent request after request)."""
    data = reply.http
    if data is None:
        data = reply.http = header_block(reply.wire) + b"\r\n" + reply.body
    return data


_server: list[object] = [None, b""]  # uvicorn's default headers last seen, and their bytes


def server_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The server's own headers (``Date``) as bytes, made again only when uvicorn replaces the
    list (once a second)."""
    if headers is not _server[0]:
        _server[:] = [headers, header_block(headers)]
    return cast(bytes, _server[1])


def refusal(status: int, message: bytes, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole response to a request that cannot be read, closing the connection."""
    return (
        STATUS[status]
        + server_headers(default_headers)
        + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(message)
        + message
    )


def scope_of(
    method: bytes,
    url: bytes,
    headers: list[tuple[bytes, bytes]],
    version: str,
    *,
    conn: tuple[tuple[str, int] | None, tuple[str, int] | None, str],
    state: dict[str, Any],
) -> dict[str, Any] | None:
    """The ASGI scope of a request, as uvicorn builds it (``conn``: server, client, scheme); None
    when the request target is no URL."""
    try:
        # Any: httptools' stubs say bytes, but an absent part is None (a build compiled by mypyc
        # would check what the stubs say, and fail).
        parsed: Any = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return None
    raw_path: bytes = parsed.path or b"/"
    path = raw_path.decode("latin-1")
    server, client, scheme = conn
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": version,
        "server": server,
        "client": client,
        "scheme": scheme,
        "root_path": "",
        "method": method.decode("ascii"),
        "path": unquote(path) if "%" in path else path,
        "raw_path": raw_path,
        "query_string": parsed.query or b"",
        "headers": headers,
        "state": state,
    }


async def run_buffered(
    app: ASGIApp, scope: dict[str, Any], body: bytes, gone: Callable[[], Awaitable[None]]
) -> tuple[int, bytes, bytes]:
    """Run ``app`` for one request read whole; its status, its bytes after the status line, and its
    body. ``gone`` waits for the client to leave: what a second ``receive`` waits for."""
    received = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone()
        return {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
        start = sent[0]
        if start["type"] != "http.response.start":
            raise RuntimeError(f"the app sent {start['type']!r} first")
        content = b"".join(m.get("body", b"") for m in sent[1:] if m["type"] == "http.response.body")
        status = int(start["status"])
        headers = [(bytes(n).lower(), bytes(v)) for n, v in start.get("headers", ())]
        if scope["method"] != "HEAD" or not any(n == b"content-length" for n, _ in headers):
            # The body is whole: its length frames it (a HEAD keeps the length the app gave).
            headers = [h for h in headers if h[0] not in _FRAMING]
            if status >= 200 and status not in _NO_BODY:
                headers.append((b"content-length", b"%d" % len(content)))
        return status, header_block(headers) + b"\r\n" + content, content
    except Exception as exc:  # as uvicorn: logged, answered 500, never shown
        log.error("Exception in ASGI application", exc_info=exc)
        return SERVER_ERROR
