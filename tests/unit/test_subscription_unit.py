"""The subscription protocol: RESP parsing in the I/O callback (a fake transport; no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.store.subscription import Subscription, SubscriptionLost, command


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False
        self.protocol: Any = "the client's own protocol"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_protocol(self) -> Any:
        return self.protocol

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol


class Events:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.lost = 0

    def on_message(self, message: str) -> None:
        self.messages.append(message)

    def on_lost(self) -> None:
        self.lost += 1


def push(*parts: bytes) -> bytes:
    return command(*parts)  # a server's push is the same shape: an array of bulk strings


CONFIRM = b"*3\r\n$9\r\nsubscribe\r\n$13\r\nag:invalidate\r\n:1\r\n"


def subscribe() -> tuple[Subscription, FakeTransport, Events]:
    transport, events = FakeTransport(), Events()
    transport.protocol = None
    return Subscription(transport, "ag:invalidate", events.on_message, events.on_lost), transport, events


@pytest.fixture
async def wired() -> tuple[Subscription, FakeTransport, Events]:
    return subscribe()


def test_command_encoding() -> None:
    assert command(b"PING", b"hi") == b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n"


async def test_takes_over_the_transport_and_subscribes(wired: tuple[Subscription, FakeTransport, Events]) -> None:
    sub, transport, _ = wired
    assert transport.protocol is sub
    assert transport.written == [command(b"SUBSCRIBE", b"ag:invalidate")]
    assert not sub.subscribed.done()
    sub.data_received(CONFIRM[:-3])  # incomplete: nothing yet
    assert not sub.subscribed.done()
    sub.data_received(CONFIRM[-3:])
    assert sub.subscribed.done()


async def test_messages_are_delivered_inside_data_received() -> None:
    first = push(b"message", b"ag:invalidate", b"session-1")
    second = push(b"message", b"ag:invalidate", b"session-2")
    other = push(b"message", b"another-channel", b"nope")
    stream = CONFIRM + first + other + second
    # Any split of the byte stream: each message is delivered by the very call that completes it.
    for cut in range(1, len(stream)):
        sub, _, events = subscribe()
        sub.data_received(stream[:cut])
        assert len(events.messages) == (cut >= len(CONFIRM + first)) + (cut >= len(stream))
        sub.data_received(stream[cut:])
        assert events.messages == ["session-1", "session-2"]
        assert sub.subscribed.done()


async def test_heartbeat_answered(wired: tuple[Subscription, FakeTransport, Events]) -> None:
    sub, transport, _ = wired
    sub.data_received(CONFIRM)
    watch = asyncio.create_task(sub.watch(0.0, 5.0, b"beat"))
    for _ in range(10):
        await asyncio.sleep(0)
        if command(b"PING", b"beat") in transport.written:
            break
    assert command(b"PING", b"beat") in transport.written
    sub.data_received(push(b"pong", b"beat"))
    await asyncio.sleep(0)
    assert not watch.done(), "an answered heartbeat keeps the subscription"
    watch.cancel()


async def test_unanswered_heartbeat_ends_it(wired: tuple[Subscription, FakeTransport, Events]) -> None:
    sub, transport, events = wired
    with pytest.raises(SubscriptionLost, match="heartbeat"):
        await asyncio.wait_for(sub.watch(0.0, 0.01, b"beat"), timeout=5)
    assert transport.closed and events.lost == 1


@pytest.mark.parametrize(
    "data",
    [b"-NOPERM this user has no permissions to access the channel\r\n", b"?garbage\r\n"],
    ids=["server error", "malformed"],
)
async def test_an_error_or_garbage_ends_it_at_once(
    wired: tuple[Subscription, FakeTransport, Events], data: bytes
) -> None:
    sub, transport, events = wired
    sub.data_received(data)
    assert transport.closed and events.lost == 1
    with pytest.raises(SubscriptionLost):
        await sub.subscribed
    with pytest.raises(SubscriptionLost):
        await sub.watch(10.0, 1.0, b"beat")


async def test_connection_lost_is_reported_once_and_passed_on() -> None:
    transport, events = FakeTransport(), Events()

    class Previous:
        def __init__(self) -> None:
            self.lost_with: list[object] = []

        def connection_lost(self, exc: Exception | None) -> None:
            self.lost_with.append(exc)

    previous = Previous()
    transport.protocol = previous
    sub = Subscription(transport, "c", events.on_message, events.on_lost)
    sub.connection_lost(None)
    sub.connection_lost(None)
    assert events.lost == 1
    assert previous.lost_with == [None], "the client's own protocol learns of the close (its wait_closed ends)"
