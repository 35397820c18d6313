"""The subscription protocol: its handshake, and RESP parsing in the I/O callback (a fake transport; no server);
the reply reader it shares with the pipeline."""

from __future__ import annotations

import asyncio

import hiredis
import pytest

from authgate.store.pipeline import Pipeline, PipelineLost
from authgate.store.subscription import Endpoint, Login, Subscription, SubscriptionLost, command, replies


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


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


def subscribe(login: Login | None = None) -> tuple[Subscription, FakeTransport, Events]:
    transport, events = FakeTransport(), Events()
    sub = Subscription("ag:invalidate", events.on_message, events.on_lost, login=login)
    sub.connection_made(transport)
    return sub, transport, events


@pytest.fixture
async def wired() -> tuple[Subscription, FakeTransport, Events]:
    return subscribe()


def test_command_encoding() -> None:
    assert command(b"PING", b"hi") == b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n"


async def test_subscribes_once_connected(wired: tuple[Subscription, FakeTransport, Events]) -> None:
    sub, transport, _ = wired
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


async def test_connection_lost_is_reported_once(wired: tuple[Subscription, FakeTransport, Events]) -> None:
    sub, transport, events = wired
    sub.connection_lost(None)
    sub.connection_lost(None)
    assert events.lost == 1 and transport.closed
    with pytest.raises(SubscriptionLost, match="closed"):
        await sub.subscribed


# --------------------------------------------------------------------------------------------
# The handshake: what redis-py would say on connect for the same URL, pipelined ahead of SUBSCRIBE


@pytest.mark.parametrize(
    ("login", "handshake"),
    [
        (Login(), []),
        (Login(password="pw"), [command(b"AUTH", b"pw")]),
        (Login(username="feed", password="pw"), [command(b"AUTH", b"feed", b"pw")]),
        (Login(resp3=True), [command(b"HELLO", b"3")]),
        (Login(password="pw", resp3=True), [command(b"HELLO", b"3", b"AUTH", b"default", b"pw")]),
        (Login(username="feed", password="pw", resp3=True), [command(b"HELLO", b"3", b"AUTH", b"feed", b"pw")]),
        (Login(db=3), [command(b"SELECT", b"3")]),
        (
            Login(password="pw", db=2, client_name="ag"),
            [command(b"AUTH", b"pw"), command(b"CLIENT", b"SETNAME", b"ag"), command(b"SELECT", b"2")],
        ),
    ],
    ids=["none", "password", "acl-user", "resp3", "resp3-password", "resp3-acl-user", "db", "all"],
)
async def test_handshake_is_sent_ahead_of_subscribe(login: Login, handshake: list[bytes]) -> None:
    _, transport, _ = subscribe(login)
    assert transport.written == [b"".join([*handshake, command(b"SUBSCRIBE", b"ag:invalidate")])]


async def test_handshake_replies_are_not_taken_for_the_subscription() -> None:
    sub, _, events = subscribe(Login(password="pw", resp3=True, db=1))
    hello = b"%2\r\n+proto\r\n:3\r\n+mode\r\n+standalone\r\n"  # HELLO's map
    sub.data_received(hello + b"+OK\r\n")  # ... and SELECT's +OK: not a PONG, not a confirmation
    assert not sub.subscribed.done()
    sub.data_received(b">3\r\n$9\r\nsubscribe\r\n$13\r\nag:invalidate\r\n:1\r\n")  # RESP3 push
    assert sub.subscribed.done()
    sub.data_received(b">3\r\n$7\r\nmessage\r\n$13\r\nag:invalidate\r\n$3\r\nsid\r\n")
    assert events.messages == ["sid"] and events.lost == 0


async def test_a_refused_login_ends_it_and_nothing_after_is_read() -> None:
    sub, transport, events = subscribe(Login(username="feed", password="wrong", db=1))
    refused = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    noauth = b"-NOAUTH Authentication required.\r\n"
    sub.data_received(refused + noauth + noauth)
    assert transport.closed and events.lost == 1
    with pytest.raises(SubscriptionLost, match="WRONGPASS"):
        await sub.subscribed


# --- the reply reader both protocols share ----------------------------------------------------------


def test_replies_are_read_one_at_a_time_until_stopped() -> None:
    parser = hiredis.Reader()
    assert list(replies(parser, b"$1\r\na\r\n:2\r\n$1\r\n", lambda: False)) == [b"a", 2], "a partial reply waits"
    assert list(replies(parser, b"b\r\n", lambda: False)) == [b"b"]
    seen: list[object] = []
    for reply in replies(parser, b":1\r\n:2\r\n:3\r\n", lambda: len(seen) == 2):
        seen.append(reply)
    assert seen == [1, 2], "nothing is read once stopped"
    with pytest.raises(hiredis.ProtocolError):
        list(replies(hiredis.Reader(), b"?garbage\r\n", lambda: False))


async def test_a_pipeline_answers_what_came_before_a_malformed_reply_and_fails_the_rest() -> None:
    pipe, transport = Pipeline(Endpoint(host="127.0.0.1"), 5.0), FakeTransport()
    pipe.connection_made(transport)
    first, second, third = (pipe.call(b"GET", k) for k in (b"a", b"b", b"c"))
    pipe.data_received(b"$1\r\nx\r\n?garbage\r\n$1\r\ny\r\n")
    assert await first == b"x"
    for waiter in (second, third):
        with pytest.raises(PipelineLost, match="malformed reply"):
            await waiter
    assert pipe.lost and transport.closed
