"""The wire door reads a request's headers as the ASGI door does (authgate/web/reading.py).

Each row is a request's header lines as a client sends them; a real httptools parser feeds
``RequestReader``, and what it keeps must equal what an ASGI server would put in the scope
(lower-cased names, trailing whitespace dropped), and what it picks must equal what
``raw.pick_headers`` picks from that scope.
"""

from __future__ import annotations

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from authgate.web.parse import WANTED_HEADERS
from authgate.web.raw import pick_headers
from authgate.web.reading import MAX_BODY, MAX_NAMES, NameKeys, RequestReader, scope_headers


class Reader(RequestReader):
    def __init__(self, keys: NameKeys | None = None) -> None:
        super().__init__(keys or NameKeys(WANTED_HEADERS))
        self.parser = httptools.HttpRequestParser(self)
        self.transport = None
        self.busy = False
        self.done: list[tuple[list[tuple[bytes, bytes]], dict[str, str]]] = []

    def on_message_complete(self) -> None:
        self.done.append((scope_headers(self.headers), self.picked))


def read(lines: list[bytes]) -> tuple[list[tuple[bytes, bytes]], dict[str, str]]:
    reader = Reader()
    reader.parser.feed_data(b"GET /x HTTP/1.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n")
    [result] = reader.done
    return result


ROWS = [
    # (header lines, what the ASGI scope holds)
    ([b"Host: a.test", b"Cookie: a=1"], [(b"host", b"a.test"), (b"cookie", b"a=1")]),
    ([b"COOKIE: a=1", b"cookie: b=2"], [(b"cookie", b"a=1"), (b"cookie", b"b=2")]),  # joined when picked
    ([b"Host: first.test", b"Host: second.test"], [(b"host", b"first.test"), (b"host", b"second.test")]),
    ([b"X-Original-URL: http://a.test/ \t"], [(b"x-original-url", b"http://a.test/")]),  # trailing OWS
    ([b"X-Authentik_Username: bob"], [(b"x-authentik_username", b"bob")]),  # a look-alike, flagged
    ([b"X-Unwanted: \xe9t\xe9"], [(b"x-unwanted", b"\xe9t\xe9")]),  # kept, never decoded
    ([b"Cookie: caf\xe9=1"], [(b"cookie", b"caf\xe9=1")]),  # latin-1, never fails
    ([b"Expect: 100-Continue"], [(b"expect", b"100-Continue")]),
]


@pytest.mark.parametrize(("lines", "scope_headers"), ROWS)
def test_the_reader_keeps_and_picks_what_the_asgi_door_would(
    lines: list[bytes], scope_headers: list[tuple[bytes, bytes]]
) -> None:
    headers, picked = read(lines)
    assert headers == scope_headers
    assert picked == pick_headers(scope_headers, WANTED_HEADERS)


_NAMES = [b"Host", b"cookie", b"COOKIE", b"X-Original-URL", b"x-forwarded-for", b"X-Other", b"Accept"]
_name = st.sampled_from([*_NAMES, b"Expect", b"Connection"])
_value = st.binary(min_size=0, max_size=20).filter(lambda v: b"\r" not in v and b"\n" not in v and b"\x00" not in v)


@given(st.lists(st.tuples(_name, _value), max_size=8))
def test_any_headers_are_picked_as_pick_headers_picks_them(pairs: list[tuple[bytes, bytes]]) -> None:
    reader = Reader()
    try:
        reader.parser.feed_data(b"GET /x HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in pairs) + b"\r\n")
    except httptools.HttpParserError:
        return  # llhttp refused the bytes: neither door sees them
    [(headers, picked)] = reader.done
    assert picked == pick_headers(headers, WANTED_HEADERS)


def test_a_connection_header_is_noted_in_any_spelling() -> None:
    for spelling in (b"Connection", b"connection", b"CONNECTION"):
        reader = Reader()
        reader.parser.feed_data(b"GET /x HTTP/1.0\r\n" + spelling + b": keep-alive\r\n\r\n")
        assert reader.connection, spelling
    reader = Reader()
    reader.parser.feed_data(b"GET /x HTTP/1.1\r\nX-Connection: close\r\n\r\n")
    assert not reader.connection


def test_header_spellings_are_remembered_up_to_a_bound_and_read_alike_past_it() -> None:
    keys = NameKeys(WANTED_HEADERS)
    reader = Reader(keys)
    names = [b"X-Filler-%d" % i for i in range(MAX_NAMES)]
    reader.parser.feed_data(b"GET /x HTTP/1.1\r\n" + b"".join(n + b": 1\r\n" for n in names) + b"\r\n")
    assert len(keys.seen) == MAX_NAMES  # full of a client's random names
    _, picked = read([b"COOKIE: a=1", b"X-Original-URL: http://a.test/"])
    reader.parser.feed_data(b"GET /x HTTP/1.1\r\nCOOKIE: a=1\r\nX-Original-URL: http://a.test/\r\n\r\n")
    assert reader.done[-1][1] == picked == {"cookie": "a=1", "x-original-url": "http://a.test/"}
    assert len(keys.seen) == MAX_NAMES and b"COOKIE" not in keys.seen


def test_expect_100_continue_is_noted() -> None:
    reader = Reader()
    reader.parser.feed_data(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
    assert reader.expect


def test_a_head_past_the_bound_across_reads_does_not_fit() -> None:
    reader = Reader()
    chunk = b"GET /x HTTP/1.1\r\n" + b"X-Filler: " + b"a" * 65536
    assert reader.head_fits(chunk)
    reader.parser.feed_data(chunk)
    more = b"a" * 65536
    fits = [reader.head_fits(more) for _ in range(40)]
    assert fits[:20] == [True] * 20 and fits[-1] is False and reader.too_big == 431


def test_a_body_past_the_bound_stops_the_parser_with_413() -> None:
    reader = Reader()
    size = MAX_BODY + 1
    with pytest.raises(httptools.HttpParserCallbackError):
        reader.parser.feed_data(b"POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % size + b"a" * size)
    assert reader.too_big == 413


def test_pipelined_requests_across_many_reads_never_count_as_one_head() -> None:
    reader = Reader()
    stream = b"GET /x HTTP/1.1\r\nHost: a.test\r\nCookie: " + b"c" * 300 + b"\r\n\r\n"
    stream *= 20_000  # 7 MB, every read ending inside some head
    for i in range(0, len(stream), 65_000):
        chunk = stream[i : i + 65_000]
        assert reader.head_fits(chunk)
        reader.parser.feed_data(chunk)
    assert len(reader.done) == 20_000
