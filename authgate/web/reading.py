"""Reading one request off the wire: httptools' callbacks, bounded (authgate/web/wire.py answers).

The head (request line and headers) may take ``MAX_HEAD`` bytes and the body ``MAX_BODY``; past
either, the parser is stopped and ``too_big`` says which answer to give (431, 413). Header names are
lower-cased and trailing whitespace dropped from values, as uvicorn does, so that both doors see the
same headers.
"""

from __future__ import annotations

import asyncio

import httptools

MAX_HEAD = 2 * 1024 * 1024  # request line and headers: proxies pass 1 MB headers on; more is no request
MAX_BODY = 1024 * 1024  # authgate's routes take forms of a few KB (back-channel logout tokens)


class RequestReader:
    """The request being read, filled in by httptools' callbacks."""

    parser: httptools.HttpRequestParser
    transport: asyncio.Transport | None
    busy: bool

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.body_size = 0
        self.too_big = 0  # 431 or 413, once a bound is passed
        self.expect = False  # Expect: 100-continue

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body, self.size, self.body_size, self.expect = b"", [], [], 0, 0, False

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.size += len(url)
        if self.size > MAX_HEAD:
            self.too_big = 431
            raise ValueError("too large")  # stops the parser; data_received answers

    def on_header(self, name: bytes, value: bytes) -> None:
        self.size += len(name) + len(value)
        if self.size > MAX_HEAD:
            self.too_big = 431
            raise ValueError("too large")
        # llhttp keeps trailing whitespace, which is no part of a value (RFC 9110): as uvicorn strips it.
        name, value = name.lower(), value.rstrip(b" \t")
        self.headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect = True

    def on_headers_complete(self) -> None:
        if self.expect and not self.busy and not self.parser.should_upgrade() and self.transport is not None:
            # The body is read before the app runs: ask for it now (never before answers still owed).
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > MAX_BODY:
            self.too_big = 413
            raise ValueError("too large")
        self.body.append(body)
