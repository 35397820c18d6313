"""The wire door (authgate/web/wire.py) speaks HTTP/1.1 as uvicorn's protocol does, on raw sockets.

Each exchange runs against a real gateway with the wire door and one with uvicorn's protocol
(``AUTHGATE_WIRE=false``), and both must answer alike. The bounds only the wire door adds (431,
413, a connection closed after an upgrade request, a client that pipelines without reading) are
tested on it alone. The rest of the suite (hot path, hostile input, every proxy recipe) runs
through the wire door, the default.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie, sign_in_direct
from tests.support.servers import BUILD, ROOT, Gateway, IdP, gateway_env, start_gateway, start_redis

CHECK = PREFIX + "/auth/nginx"


@dataclass
class Door:
    name: str
    gateway: Gateway
    cookie: str

    def check(self, *, cookie: bool = True, extra: str = "", method: str = "GET", version: str = "1.1") -> bytes:
        """An nginx-recipe auth check of app.test's /dashboard, as raw bytes."""
        origin = f"http://app.test:{self.gateway.port}"
        lines = [
            f"{method} {CHECK} HTTP/{version}",
            "Host: 127.0.0.1",
            f"X-Original-URL: {origin}/dashboard",
            "X-Original-Method: GET",
        ]
        if cookie:
            lines.append(f"Cookie: {self.cookie}")
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


@pytest.fixture(scope="module", params=["wire", "uvicorn"])
def door(request: pytest.FixtureRequest, module_tmp: Path, idp: IdP) -> Iterator[Door]:
    redis = start_redis(module_tmp, f"redis-{request.param}")
    env = gateway_env(idp.issuer, redis_url=redis.url, wire="true" if request.param == "wire" else "false")
    gateway = start_gateway(module_tmp, env, name=f"authgate-{request.param}")
    with Browser() as b:
        sign_in_direct(b, f"http://app.test:{gateway.port}")
        cookie = session_cookie(b)
    yield Door(request.param, gateway, cookie)
    gateway.proc.stop()
    redis.proc.stop()


@pytest.fixture()
def wire(door: Door) -> Door:
    if door.name != "wire":
        pytest.skip("a bound of the wire door only")
    return door


class Conn:
    """A raw client connection reading responses one by one (framed by Content-Length)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = bytearray()
        self.pos = 0  # what was parsed of buf

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.pos > 1 << 20:
            del self.buf[: self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 20)
        self.buf += chunk
        return bool(chunk)

    def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        while (end := self.buf.find(b"\r\n\r\n", self.pos)) < 0:
            assert self._fill(), (
                f"connection closed before a response; read {bytes(self.buf[self.pos : self.pos + 200])!r}"
            )
        lines = self.buf[self.pos : end].decode("latin-1").split("\r\n")
        self.pos = end + 4
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, f"header {name} sent twice"
            headers[name.lower()] = value.strip()
        if status == 100:
            return status, headers, b""
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) - self.pos < length:
            assert self._fill(), "connection closed inside a body"
        body = bytes(self.buf[self.pos : self.pos + length])
        self.pos += length
        return status, headers, body

    def closed(self) -> bool:
        """True when the server closed the connection (within the socket timeout)."""
        try:
            return not self._fill()
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def conn(door: Door) -> Iterator[Conn]:
    c = Conn(door.gateway.port)
    yield c
    c.close()


def test_the_gateway_runs_the_build_under_test(door: Door, conn: Conn) -> None:
    """``make test`` runs this file again against the hot path compiled by mypyc (tools/compiled.py):
    the gateway must then run the C extensions, not the source beside them."""
    conn.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _, body = conn.response()
    compiled = "true" if BUILD != ROOT else "false"
    assert status == 200 and f'authgate_build_info{{compiled="{compiled}"}} 1.0' in body.decode(), body[-400:]


def test_keep_alive_answers_request_after_request_on_one_connection(door: Door, conn: Conn) -> None:
    for _ in range(3):
        conn.send(door.check())
        status, headers, _ = conn.response()
        assert status == 200 and headers["x-authentik-username"] == "alice"
        assert parsedate_to_datetime(headers["date"]).year >= 2024, "the server's Date header"
    conn.send(door.check(cookie=False))
    status, headers, _ = conn.response()
    assert status == 401 and re.fullmatch(r"[\w.-]+", headers["x-request-id"]), "every answer but a 200 has an id"


PIPELINE = [
    # (request, expected status): cached answers, store answers and ASGI routes mixed in one write
    ("check", 200),
    ("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    ("check", 200),
    ("anonymous", 401),
    ("GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    ("check", 200),
]


def test_pipelined_requests_are_answered_in_order(door: Door, conn: Conn) -> None:
    def raw(item: str) -> bytes:
        return door.check() if item == "check" else door.check(cookie=False) if item == "anonymous" else item.encode()

    conn.send(b"".join(raw(item) for item, _ in PIPELINE))
    assert [conn.response()[0] for _ in PIPELINE] == [status for _, status in PIPELINE]
    conn.send(door.check())
    assert conn.response()[0] == 200, "the connection goes on"


def test_head_sends_the_length_and_no_body(door: Door, conn: Conn) -> None:
    conn.send(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = conn.response(head_only=True)
    assert status == 200 and headers["content-length"] == "3"
    conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = conn.response()
    assert (status, body) == (200, b"ok\n"), "the HEAD's framing left the stream intact"


@pytest.mark.parametrize("how", ["HTTP/1.0", "Connection: close"])
def test_a_closing_request_is_answered_then_closed(door: Door, conn: Conn, how: str) -> None:
    if how == "HTTP/1.0":
        conn.send(door.check(version="1.0"))
    else:
        conn.send(door.check(extra="Connection: close\r\n"))
    status, headers, _ = conn.response()
    assert status == 200 and headers["connection"] == "close"
    assert conn.closed()


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",  # two lengths
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS to the plain port
    ],
)
def test_a_malformed_request_gets_400_and_the_connection_ends(door: Door, conn: Conn, garbage: bytes) -> None:
    conn.send(garbage)
    assert conn.response()[0] == 400
    assert conn.closed()


def test_expect_100_continue_then_a_chunked_body(door: Door, conn: Conn) -> None:
    """The back-channel logout route reads its form from a chunked body sent after 100 Continue."""
    head = (
        f"POST {PREFIX}/backchannel_logout HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    conn.send(head.encode())
    assert conn.response()[0] == 100
    conn.send(b"6\r\nlogout\r\n9\r\n_token=xx\r\n0\r\n\r\n")
    status, _, body = conn.response()
    assert (status, body.lower()) == (400, b'{"error":"invalid_request","error_description":"not a signed jwt"}'), (
        "the form was read: its token (xx) was refused"
    )
    conn.send(door.check())
    assert conn.response()[0] == 200


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_client_that_does_not_read_pauses_the_server_not_its_memory(wire: Door) -> None:
    """50,000 pipelined checks (about 20 MB, their answers about 40 MB) from a client that reads
    nothing until its sending stalls: the gateway stops reading rather than buffering answers, serves
    other connections meanwhile, then answers every one, in order. (uvicorn's protocol takes all
    20 MB in: it queues every pipelined request it has parsed.)"""
    door = wire
    n, one = 50_000, door.check()
    assert door.gateway.proc.popen is not None
    pid = door.gateway.proc.popen.pid
    before = rss_bytes(pid)
    slow = Conn(door.gateway.port)
    progress = [0]

    def pump() -> None:
        stream = memoryview(one * n)
        while progress[0] < len(stream):
            progress[0] += slow.sock.send(stream[progress[0] : progress[0] + 65536])

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    last, still_since = -1, time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() - still_since < 0.5:  # wait for the sending to stall (bounded)
        assert time.monotonic() < deadline, "the client's sending never stalled: the gateway read everything"
        if progress[0] != last:
            last, still_since = progress[0], time.monotonic()
        time.sleep(0.05)
    assert sender.is_alive(), "all 20 MB were taken in while no answer was read"
    assert rss_bytes(pid) - before < 16 * 1024 * 1024, "answers nobody reads are not piled up in memory"
    other = Conn(door.gateway.port)
    other.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.response()[0] == 200, "another connection is served meanwhile"
    other.close()
    statuses = [slow.response()[0] for _ in range(n)]
    assert statuses == [200] * n
    sender.join(10)
    slow.close()


def test_an_upgrade_request_is_answered_then_the_connection_ends(wire: Door, conn: Conn) -> None:
    """No WebSocket is served: what follows an upgrade request is not read as requests."""
    conn.send(wire.check(extra="Connection: Upgrade\r\nUpgrade: websocket\r\n") + b"GET /healthz HTTP/1.1\r\n\r\n")
    assert conn.response()[0] == 200
    assert conn.closed()


def test_a_head_beyond_two_megabytes_gets_431(wire: Door, conn: Conn) -> None:
    filler = "X-Filler: " + "a" * 60_000 + "\r\n"
    conn.send(wire.check(extra=filler * 40))
    assert conn.response()[0] == 431
    assert conn.closed()


def test_a_body_beyond_a_megabyte_gets_413(wire: Door, conn: Conn) -> None:
    size = 1024 * 1024 + 1
    conn.send(f"POST {PREFIX}/backchannel_logout HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the server may close first
        conn.send(b"a" * size)
    assert conn.response()[0] == 413


def test_a_silent_connection_is_closed_after_the_keep_alive_timeout(wire: Door, conn: Conn) -> None:
    conn.send(wire.check())
    assert conn.response()[0] == 200
    started = time.monotonic()
    conn.sock.settimeout(15)
    assert conn.closed()
    assert 3 < time.monotonic() - started < 12, "uvicorn's keep-alive timeout is 5 s"
