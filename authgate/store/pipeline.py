"""The session read path: GETs (and GETEX) on one connection of our own, pipelined, read by hiredis.

Why not redis-py for this one command: every call through its asyncio client takes a connection
from the pool, writes with one system call, awaits its own reply in a task and returns the
connection: about two thirds of a cold auth check's time went there (docs/performance.md). Here
every GET of one event-loop turn goes out in one write on one connection, and Redis answers a
connection's commands in the order sent, so the replies, parsed by hiredis in the I/O callback
that reads them, are handed to their callers in that order: no pool, no lock, no task per call.

Ordering is what keeps revocation immediate: a GET written after a sign-out's DEL reached Redis
is answered after it, on this connection as on any other.

A stuck server is noticed by one timer per connection, not one per call: the oldest unanswered
GET is the first due, and when it is older than ``timeout`` the connection is given up and every
caller gets ``PipelineLost``. The connection opens the same way the subscription's does
(``subscription.Endpoint``: address, TLS and login from public APIs), so no client library's
internals are relied on.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import cast

import hiredis

from authgate.store.subscription import Endpoint, command, replies


class PipelineLost(ConnectionError):
    """The connection closed, the server refused the login, or a reply is overdue."""

    def __init__(self, why: str, *, closed: bool = False) -> None:
        super().__init__(why)
        self.closed = closed  # closed by the peer: a new connection may well succeed at once


class Pipeline(asyncio.Protocol):
    """One connection; ``get`` may be called by any number of tasks at once."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._parser = hiredis.Reader()
        self._handshake = endpoint.login.handshake()
        self._unanswered = 0  # handshake replies still due
        self._waiting: collections.deque[asyncio.Future[object]] = collections.deque()
        self._sent_at: collections.deque[float] = collections.deque()  # monotonic, one per waiter
        self._outbox: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.lost = False

    @classmethod
    async def open(cls, endpoint: Endpoint, timeout: float) -> Pipeline:
        """Connect and log in; the caller bounds the wait. A failed open closes its connection."""
        pipeline = cls(endpoint, timeout)
        try:
            if endpoint.path:
                await pipeline._loop.create_unix_connection(lambda: pipeline, endpoint.path)
            else:
                await pipeline._loop.create_connection(lambda: pipeline, endpoint.host, endpoint.port, ssl=endpoint.tls)
            await pipeline.ready
        except BaseException:
            pipeline.close()
            raise
        return pipeline

    def call(self, *args: bytes) -> asyncio.Future[object]:
        """The reply to the command ``args`` (``GET key``: bytes, None, or a ``hiredis.ReplyError``);
        raises PipelineLost."""
        waiter: asyncio.Future[object] = self._loop.create_future()
        if self.lost:
            waiter.set_exception(PipelineLost("connection lost", closed=True))
            return waiter
        if not self._outbox:
            self._loop.call_soon(self._flush)  # the rest of this loop turn's GETs join this write
        self._outbox.append(command(*args))
        self._waiting.append(waiter)
        self._sent_at.append(self._loop.time())
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_overdue)
        return waiter

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a stream's transport: create_connection's
        self._unanswered = len(self._handshake)
        if self._handshake:
            self._transport.write(b"".join(self._handshake))
        else:
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            for reply in replies(self._parser, data, lambda: self.lost):
                self._reply(reply)
        except hiredis.ProtocolError:
            self._fail("malformed reply")

    def _reply(self, reply: object) -> None:
        if self._unanswered:
            self._answer_handshake(reply)
        elif self._waiting:
            self._sent_at.popleft()
            waiter = self._waiting.popleft()
            if not waiter.done():  # its caller may have been cancelled
                waiter.set_result(reply)
        else:
            self._fail("a reply nobody asked for")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection closed", closed=True)

    # -- internals --------------------------------------------------------------------------------

    def _answer_handshake(self, reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            self._fail(f"server error: {reply}")  # a refused AUTH (WRONGPASS), NOPERM, ...
            return
        self._unanswered -= 1
        if not self._unanswered and not self.ready.done():
            self.ready.set_result(None)

    def _flush(self) -> None:
        if self._outbox and self._transport is not None and not self.lost:
            self._transport.write(b"".join(self._outbox))
        self._outbox.clear()

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._sent_at or self.lost:
            return
        overdue_at = self._sent_at[0] + self._timeout
        if self._loop.time() >= overdue_at:
            self._fail("no reply within the store timeout")
        else:
            self._watchdog = self._loop.call_at(overdue_at, self._check_overdue)

    def _fail(self, why: str, *, closed: bool = False) -> None:
        if self.lost:
            return
        self.lost = True
        error = PipelineLost(why, closed=closed)
        if not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # retrieved: no "never retrieved" warning if nobody waits
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        self._sent_at.clear()
        self._outbox.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Reads:
    """The pipeline in use, opened on first use and again after it is lost, to wherever
    ``connect`` says (asked again each time: Sentinel may have moved the master)."""

    def __init__(self, connect: Callable[[], Awaitable[Endpoint]], timeout: float) -> None:
        self._connect = connect
        self._timeout = timeout
        self._pipeline: Pipeline | None = None
        self._opening: asyncio.Future[Pipeline] | None = None

    async def call(self, *args: bytes) -> object:
        """The reply to a read (``GET``, ``GETEX``: bytes, None or a ``hiredis.ReplyError``); raises
        PipelineLost, TimeoutError or OSError. A connection the server closed since its last use (a
        restart) is replaced and the command sent again at once, as redis-py's retry did: only
        commands that may run twice come here."""
        pipeline = self._pipeline
        if pipeline is None or pipeline.lost:
            pipeline = await self._open()
        try:
            return await pipeline.call(*args)
        except PipelineLost as exc:
            if not exc.closed:
                raise
        current = self._pipeline  # another caller may have reopened it meanwhile
        return await (current if current is not None and not current.lost else await self._open()).call(*args)

    async def _open(self) -> Pipeline:
        # Concurrent callers share one attempt: a burst after a restart opens one connection.
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open_one())
            self._opening.add_done_callback(self._opened)
        return await asyncio.shield(self._opening)

    async def _open_one(self) -> Pipeline:
        async with asyncio.timeout(self._timeout):
            endpoint = await self._connect()
            pipeline = await Pipeline.open(endpoint, self._timeout)
        old, self._pipeline = self._pipeline, pipeline
        if old is not None:
            old.close()
        return pipeline

    def _opened(self, opening: asyncio.Future[Pipeline]) -> None:
        self._opening = None
        if not opening.cancelled():
            opening.exception()  # retrieved: every caller may have given up waiting

    def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
