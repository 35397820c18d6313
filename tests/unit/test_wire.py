"""The wire door's protocol on a stand-in loop and transport (authgate/web/wire.py): what it writes,
when it closes. Exchanges over real sockets are in tests/integration/test_wire.py."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from authgate.web.raw import Reply
from authgate.web.wire import WireProtocol


class Loop:
    def __init__(self) -> None:
        self.soon: list[Callable[[], object]] = []

    def call_soon(self, fn: Callable[[], object]) -> None:
        self.soon.append(fn)

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        return None

    def time(self) -> float:
        return 0.0

    def run(self) -> None:
        while self.soon:
            self.soon.pop(0)()


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else None


def connect(answer: Reply) -> tuple[WireProtocol, Transport, Loop]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the quick answer is enough")

    app.quick = lambda target, headers, peer, scheme: answer  # type: ignore[attr-defined]
    config = SimpleNamespace(loaded=True, loaded_app=app, timeout_keep_alive=5)
    state = SimpleNamespace(connections=set(), tasks=set(), default_headers=[(b"date", b"today")], total_requests=0)
    loop, transport = Loop(), Transport()
    protocol = WireProtocol(config, state, {}, _loop=loop)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, loop


REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def test_a_quick_answer_is_written_after_the_polls_callbacks_in_one_write() -> None:
    protocol, transport, loop = connect(Reply(200, [(b"x-a", b"1")], b"ok\n"))
    protocol.data_received(REQUEST)
    assert transport.written == [], "not inside the read callback: a sign-out read in the same poll goes first"
    loop.run()
    assert transport.written == [
        b"HTTP/1.1 200 OK\r\ndate: today\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 3\r\n"
        b"cache-control: no-store\r\nx-a: 1\r\n\r\nok\n"
    ]
    assert not transport.closed


@pytest.mark.parametrize("value", [b"a\r\nSet-Cookie: x=1", b"a\nb", b"a\x00"])
def test_an_answer_with_a_header_that_would_split_the_response_is_never_written(
    value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    protocol, transport, loop = connect(Reply(200, [(b"x-name", value)]))
    protocol.data_received(REQUEST)
    loop.run()
    assert transport.written == [] and transport.closed
    assert "could not be written" in caplog.text


def test_a_graceful_shutdown_answers_what_was_read_then_closes() -> None:
    protocol, transport, loop = connect(Reply(200))
    protocol.data_received(REQUEST * 3)
    protocol.shutdown()
    assert not transport.closed, "three requests read and not yet answered"
    loop.run()
    assert len(transport.written) == 3 and transport.closed
    assert transport.written[-1].count(b"connection: close") == 1


def test_head_gets_the_length_and_no_body() -> None:
    protocol, transport, loop = connect(Reply(200, body=b"ok\n"))
    protocol.data_received(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    loop.run()
    [written] = transport.written
    assert written.endswith(b"content-length: 3\r\ncache-control: no-store\r\n\r\n")


@pytest.mark.parametrize("version", [b"0.9", b"1.0", b"1.1", b"2.0"])
@pytest.mark.parametrize("connection", [b"", b"Connection: keep-alive\r\n", b"CONNECTION: close\r\n"])
def test_the_version_and_keep_alive_are_llhttps_though_the_version_is_asked_only_when_it_matters(
    version: bytes, connection: bytes
) -> None:
    protocol, _, _ = connect(Reply(200))
    protocol.data_received(b"GET /healthz HTTP/" + version + b"\r\nHost: x\r\n" + connection + b"\r\n")
    [(_, _, _, _, _, keep_alive, seen)] = protocol.queue
    assert seen == version.decode()
    # llhttp keeps HTTP/1.1 alive unless told to close, any other version only when told to; and an
    # HTTP/1.0 connection closes whatever it says, as under uvicorn.
    kept_by_llhttp = b"keep-alive" in connection if version != b"1.1" else b"close" not in connection
    assert keep_alive == (kept_by_llhttp and version != b"1.0")
