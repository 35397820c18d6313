"""One Redis subscription on a connection of its own, read in the event loop's I/O callback.

Why not redis-py's PubSub: its messages are parsed in a task, which the loop may run after
requests it read in the same turn. Here each message is parsed (hiredis) and handed to
``on_message`` inside ``data_received``, the moment the loop reads the bytes. Requests are
answered in tasks, which run only after every I/O callback of the poll that read them, so a
message that reached this process no later than a request is applied before that request is
answered, whatever order the kernel reports the two sockets in. (Over TLS too: asyncio's SSL
transport decrypts and hands the bytes on inside the callback that read them.)

This module opens the socket itself (``loop.create_connection`` with this protocol), so it
depends on no client library's internals: the caller says where (``Endpoint``, found through
redis-py's public APIs) and how to log in (``Login``, from the store's URL), and the protocol
speaks the few RESP commands a subscriber needs: what redis-py would say on connect (HELLO or
AUTH, CLIENT SETNAME, SELECT), then SUBSCRIBE, then PINGs.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

import hiredis


class SubscriptionLost(ConnectionError):
    """The subscription's connection closed, the server refused it, or it stopped answering."""


def command(*args: bytes) -> bytes:
    """A RESP array of bulk strings: how a client sends any command."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out += [b"$%d\r\n" % len(arg), arg, b"\r\n"]
    return b"".join(out)


def replies(parser: hiredis.Reader, data: bytes, stopped: Callable[[], bool]) -> Iterator[object]:
    """The complete replies ``data`` adds to ``parser``, one at a time until ``stopped()`` (what
    follows a failure is left unread). A malformed reply raises ``hiredis.ProtocolError``."""
    parser.feed(data)
    while not stopped():
        reply = parser.gets()
        if reply is False:
            return
        yield reply


@dataclass(frozen=True)
class Login:
    """What the subscriber says before SUBSCRIBE: what redis-py says on connect for the same URL."""

    username: str | None = None
    password: str | None = None
    db: int = 0
    resp3: bool = False
    client_name: str | None = None

    def handshake(self) -> list[bytes]:
        """The commands sent (pipelined) ahead of SUBSCRIBE; each is answered before it."""
        commands = []
        if self.username or self.password:
            # As redis-py: a username only with a password, HELLO's AUTH always names a user.
            user = self.username.encode() if self.username else None
            password = (self.password or "").encode()
            if self.resp3:
                commands.append(command(b"HELLO", b"3", b"AUTH", user or b"default", password))
            else:
                commands.append(command(b"AUTH", *((user,) if user else ()), password))
        elif self.resp3:
            commands.append(command(b"HELLO", b"3"))
        if self.client_name:
            commands.append(command(b"CLIENT", b"SETNAME", self.client_name.encode()))
        # Channels are not per database: SELECT only so that a URL redis-py refuses is refused here too.
        if self.db:
            commands.append(command(b"SELECT", b"%d" % self.db))
        return commands


@dataclass(frozen=True)
class Endpoint:
    """Where the subscription connects: ``host:port`` (TLS when ``tls``), or a Unix socket ``path``."""

    host: str = ""
    port: int = 6379
    path: str = ""
    tls: ssl.SSLContext | None = None
    login: Login = field(default_factory=Login)


class Subscription(asyncio.Protocol):
    """Subscribed to one channel on a connection this protocol owns."""

    def __init__(
        self,
        channel: str,
        on_message: Callable[[str], None],
        on_lost: Callable[[], None],
        *,
        login: Login | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._channel = channel.encode()
        self._on_message = on_message
        self._on_lost = on_lost
        self._handshake = (login or Login()).handshake()
        self._unanswered = 0  # handshake replies still due before SUBSCRIBE's
        self._parser = hiredis.Reader()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._pong: asyncio.Future[None] | None = None

    @classmethod
    async def open(
        cls, endpoint: Endpoint, channel: str, on_message: Callable[[str], None], on_lost: Callable[[], None]
    ) -> Subscription:
        """Connect to ``endpoint``, log in and subscribe; return once the server confirms. The caller
        bounds the wait and closes what it gets; a failed or cancelled open closes its own connection."""
        subscription = cls(channel, on_message, on_lost, login=endpoint.login)
        loop = asyncio.get_running_loop()
        try:
            if endpoint.path:
                await loop.create_unix_connection(lambda: subscription, endpoint.path)
            else:
                await loop.create_connection(lambda: subscription, endpoint.host, endpoint.port, ssl=endpoint.tls)
            await subscription.subscribed
        except BaseException:
            subscription.close()
            raise
        return subscription

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a stream's transport: create_connection's
        self._unanswered = len(self._handshake)
        self._write(b"".join([*self._handshake, command(b"SUBSCRIBE", self._channel)]))

    def data_received(self, data: bytes) -> None:
        try:
            for reply in replies(self._parser, data, self.lost.done):
                self._handle(reply)
        except hiredis.ProtocolError:
            self._fail("malformed reply")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection closed")

    # -- messages ---------------------------------------------------------------------------------

    def _handle(self, reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            self._fail(f"server error: {reply}")  # a refused AUTH (WRONGPASS), NOPERM, ...
        elif self._unanswered:
            self._unanswered -= 1  # HELLO's map, or +OK
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
        self.close()

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
            self._write(command(b"PING", message))
            await asyncio.wait({self._pong, self.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if self.lost.done():
                self.lost.result()
            if not self._pong.done():
                self._fail("no answer to the heartbeat")
                raise SubscriptionLost("no answer to the subscription's heartbeat")

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
