"""Reading one request off the wire: httptools' callbacks, bounded (authgate/web/wire.py answers).

Header names are lower-cased and trailing whitespace dropped from values, as uvicorn does, so that
both doors see the same headers; the ones the auth check reads are also picked as they arrive, as
``raw.pick_headers`` would pick them (the first of repeated names, Cookie joined). The head may take
``MAX_HEAD`` bytes across reads and the body ``MAX_BODY``: past either, ``too_big`` says which answer
to give (431, 413).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httptools

MAX_HEAD = 2 * 1024 * 1024  # request line and headers: proxies pass 1 MB headers on; more is no request
MAX_BODY = 1024 * 1024  # authgate's routes take forms of a few KB (back-channel logout tokens)


class RequestReader:
    """The request being read, filled in by httptools' callbacks."""

    parser: httptools.HttpRequestParser
    transport: asyncio.Transport | None
    busy: bool

    def __init__(self, wanted: Mapping[bytes, str]) -> None:
        self.wanted = wanted
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.picked: dict[str, str] = {}  # the wanted headers, decoded
        self.body: list[bytes] = []
        self.body_size = 0
        self.too_big = 0  # 431 or 413, once a bound is passed
        self.expect = False  # Expect: 100-continue
        self.in_head = False  # a head was begun and is not complete
        self.head_bytes = 0

    def head_fits(self, data: bytes) -> bool:
        """Count ``data`` (before it is parsed) against a head still being read; False past the bound.
        Counted per read, not per header (a read holds at most a few hundred KB), from the read in
        which the head began; a head completed resets the count."""
        self.head_bytes = (self.head_bytes if self.in_head else 0) + len(data)
        if self.head_bytes > MAX_HEAD:
            self.too_big = 431
            return False
        return True

    def on_message_begin(self) -> None:
        self.url, self.headers, self.picked, self.body = b"", [], {}, []
        self.body_size, self.expect, self.in_head = 0, False, True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps trailing whitespace, which is no part of a value (RFC 9110): as uvicorn strips it.
        name, value = name.lower(), value.rstrip(b" \t")
        self.headers.append((name, value))
        key = self.wanted.get(name)
        if key is not None:
            picked = self.picked
            if key not in picked:
                picked[key] = value.decode("latin-1")
            elif key == "cookie":
                picked[key] += "; " + value.decode("latin-1")
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect = True

    def on_headers_complete(self) -> None:
        self.in_head, self.head_bytes = False, 0
        if self.expect and not self.busy and not self.parser.should_upgrade() and self.transport is not None:
            # The body is read before the app runs: ask for it now (never before answers still owed).
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > MAX_BODY:
            self.too_big = 413
            raise ValueError("too large")  # stops the parser; data_received answers
        self.body.append(body)
