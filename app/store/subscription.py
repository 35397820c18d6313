"""One Redis subscription, read in the event loop's I/O callback.

Why not redis-py's PubSub: its messages are parsed in a task, which the loop may run after
requests it read in the same turn. Here each message is parsed (hiredis) and handed to
``on_message`` inside ``data_received``, the moment the loop reads the bytes. Requests are
answered in tasks, which run only after every I/O callback of the poll that read them, so a
message that reached this process no later than a request is applied before that request is
answered, whatever order the kernel reports the two sockets in.

redis-py still opens the connection (address, Sentinel discovery, TLS, AUTH, SELECT); this
protocol then takes over its transport and speaks the few RESP commands a subscriber needs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import hiredis


class SubscriptionLost(ConnectionError):
    """The subscription's connection closed, the server refused it, or it stopped answering."""


def command(*args: bytes) -> bytes:
    """A RESP array of bulk strings: how a client sends any command."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out += [b"$%d\r\n" % len(arg), arg, b"\r\n"]
    return b"".join(out)


class Subscription(asyncio.Protocol):
    """Subscribed to one channel on a transport taken over from a connected client."""

    def __init__(
        self,
        transport: asyncio.Transport,
        channel: str,
        on_message: Callable[[str], None],
        on_lost: Callable[[], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self._transport = transport
        self._channel = channel.encode()
        self._on_message = on_message
        self._on_lost = on_lost
        self._parser = hiredis.Reader()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._pong: asyncio.Future[None] | None = None
        # The client's own protocol still learns of the close, so its connection closes cleanly.
        self._previous: Any = transport.get_protocol()
        transport.set_protocol(self)
        transport.write(command(b"SUBSCRIBE", self._channel))

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while True:
            try:
                reply = self._parser.gets()
            except hiredis.ProtocolError:
                self._fail("malformed reply")
                return
            if reply is False:
                return
            self._handle(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection closed")
        if self._previous is not None:
            with contextlib.suppress(Exception):
                self._previous.connection_lost(exc)
            self._previous = None

    # -- messages ---------------------------------------------------------------------------------

    def _handle(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            self._fail(f"server error: {reply}")
        elif isinstance(reply, list) and reply:
            kind = reply[0]
            if kind == b"message" and len(reply) == 3 and reply[1] == self._channel:
                self._on_message(reply[2].decode("utf-8", "replace"))
            elif kind == b"subscribe" and not self.subscribed.done():
                self.subscribed.set_result(None)
            elif kind == b"pong":
                self._answered()
        elif isinstance(reply, bytes):
            self._answered()  # RESP3 answers PING plainly, even while subscribed

    def _answered(self) -> None:
        if self._pong is not None and not self._pong.done():
            self._pong.set_result(None)

    def _fail(self, why: str) -> None:
        if self.lost.done():
            return
        for waiter in (self.subscribed, self.lost):
            if not waiter.done():
                waiter.set_exception(SubscriptionLost(why))
                waiter.exception()  # retrieved: no "never retrieved" warning if nobody waits
        self._on_lost()
        self._transport.close()

    # -- liveness ---------------------------------------------------------------------------------

    async def watch(self, heartbeat: float, timeout: float, message: bytes) -> None:
        """Return never; raise SubscriptionLost when the connection closes or a PING sent after
        ``heartbeat`` quiet seconds is not answered within ``timeout``."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.wait({self.lost}, timeout=heartbeat)
            if self.lost.done():
                self.lost.result()  # raises SubscriptionLost
            self._pong = loop.create_future()
            self._transport.write(command(b"PING", message))
            await asyncio.wait({self._pong, self.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if self.lost.done():
                self.lost.result()
            if not self._pong.done():
                self._fail("no answer to the heartbeat")
                raise SubscriptionLost("no answer to the subscription's heartbeat")

    def close(self) -> None:
        self._transport.close()
