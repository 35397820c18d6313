"""Reading one request off the wire: httptools' callbacks, bounded (authgate/web/wire.py answers).

The headers the auth check reads are picked as they arrive, as ``raw.pick_headers`` would pick them
from an ASGI scope (names compared ignoring case, trailing whitespace dropped, the first of repeated
names, Cookie joined). Every header is also kept as sent, for the ASGI door, which lower-cases the
names and drops trailing whitespace as uvicorn does (``scope_headers``): a request the wire door
answers itself pays for neither. A name is looked up as sent (``NameKeys``), so a proxy's usual
spellings are lower-cased once per process, not once per request. The head may take ``MAX_HEAD``
bytes across reads and the body ``MAX_BODY``: past either, ``too_big`` says which answer to give
(431, 413).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httptools

MAX_HEAD = 2 * 1024 * 1024  # request line and headers: proxies pass 1 MB headers on; more is no request
MAX_BODY = 1024 * 1024  # authgate's routes take forms of a few KB (back-channel logout tokens)
MAX_NAMES = 4096  # spellings of header names remembered; past that, each is lower-cased again
EXPECT, CONNECTION = "\0expect", "\0connection"  # headers the reader itself reads


class NameKeys:
    """What a header name, spelt as sent, is to the reader: its key among the wanted headers,
    ``EXPECT``, ``CONNECTION``, or "" (kept for the ASGI door only)."""

    def __init__(self, wanted: Mapping[bytes, str]) -> None:
        self.wanted = wanted
        self.seen: dict[bytes, str] = {}  # bounded: a client choosing random names fills it once

    def key(self, name: bytes) -> str:
        key = self.seen.get(name)
        if key is None:
            lowered = name.lower()
            if lowered == b"expect":
                key = EXPECT
            elif lowered == b"connection":
                key = CONNECTION
            else:
                key = self.wanted.get(lowered, "")
            if len(self.seen) < MAX_NAMES:
                self.seen[name] = key
        return key


def scope_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers as sent, as uvicorn puts them in an ASGI scope: names lower-cased, and the trailing
    whitespace llhttp keeps dropped from values (it is no part of a value: RFC 9110)."""
    return [(name.lower(), value.rstrip(b" \t")) for name, value in headers]


class RequestReader:
    """The request being read, filled in by httptools' callbacks."""

    parser: httptools.HttpRequestParser
    transport: asyncio.Transport | None
    busy: bool

    def __init__(self, keys: NameKeys) -> None:
        self.keys = keys
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []  # as sent: scope_headers() makes them the scope's
        self.picked: dict[str, str] = {}  # the wanted headers, decoded
        self.body: list[bytes] = []
        self.body_size = 0
        self.too_big = 0  # 431 or 413, once a bound is passed
        self.expect = False  # Expect: 100-continue
        self.connection = False  # a Connection header was sent (HTTP/1.0 keep-alive needs one)
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
        self.body_size, self.expect, self.connection, self.in_head = 0, False, False, True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        key = self.keys.seen.get(name)
        if key is None:
            key = self.keys.key(name)
        if not key:
            return
        # llhttp keeps trailing whitespace, which is no part of a value (RFC 9110): as uvicorn strips it.
        value = value.rstrip(b" \t")
        if key == EXPECT:
            self.expect = self.expect or value.lower() == b"100-continue"
        elif key == CONNECTION:
            self.connection = True
        elif key not in self.picked:
            self.picked[key] = value.decode("latin-1")
        elif key == "cookie":
            self.picked[key] += "; " + value.decode("latin-1")

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
