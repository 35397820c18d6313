"""The wire door: authgate's own HTTP/1.1 protocol under uvicorn, answering cached checks at the socket.

uvicorn still runs the process (sockets, workers, signals, lifespan, graceful shutdown, the ``Date``
header it refreshes every second); this class is what its ``http=`` option builds per connection.
Requests are parsed by httptools (llhttp, as uvicorn's own protocol does). An auth check or a
``/healthz`` that the app can answer with no await (``quick``, set by authgate/web/asgi.py: the same
parse and cache functions the ASGI door calls) is answered right in the read callback with one
``write`` of prebuilt bytes; every other request (a cache miss, the browser routes, /readyz,
/metrics, any spelling the quick table does not hold) runs the ASGI app itself, in a task, its
response buffered (authgate's routes send finite bodies) and written in request order. One decision
path, two doors: docs/performance.md says what this saves and how it was measured.

What uvicorn's protocol does and this keeps: keep-alive and its idle timeout, HTTP/1.0 and
``Connection: close``, pipelining in order, flow control both ways (reading pauses while the peer
does not read), ``Expect: 100-continue``, HEAD, 400 on malformed requests, graceful shutdown, the
request count behind ``--limit-max-requests``. What it adds: a bound on a request's head and body
(431 / 413), and a connection that asked to upgrade (no WebSocket is served) is closed after its
answer rather than reading what follows as requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import httptools

from authgate.web.doors import Later
from authgate.web.http11 import SERVER_ERROR, STATUS, refusal, reply_bytes, run_buffered, scope_of, server_headers
from authgate.web.parse import WANTED_HEADERS
from authgate.web.raw import ASGIApp, Reply
from authgate.web.reading import NameKeys, RequestReader, scope_headers

log = logging.getLogger("uvicorn.error")

SEND_TIMEOUT = 60.0  # seconds a peer may leave answers unread
MAX_QUEUE = 64  # pipelined requests waiting behind a slow one before reading pauses

Quick = Callable[[bytes, dict[str, str], str | None, str], Reply | Later | None]
KEYS = NameKeys(WANTED_HEADERS)  # one per process: the header spellings seen, and what each is

#: method, target, headers as sent, the wanted ones decoded, body, keep-alive, HTTP version
Request = tuple[bytes, bytes, list[tuple[bytes, bytes]], dict[str, str], bytes, bool, str]


class WireProtocol(RequestReader):
    """One client connection (a proxy's keep-alive connection, usually): an asyncio protocol by its
    methods. Not a subclass of ``asyncio.Protocol``, so that a build compiled by mypyc (setup.py)
    makes it a native class, its attributes fields rather than a dict's entries."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        if not config.loaded:
            config.load()
        self.app: ASGIApp = config.loaded_app
        # Absent when uvicorn wrapped the app (--log-level trace): then every request takes the ASGI door.
        self.quick: Quick | None = getattr(self.app, "quick", None)
        self.state = server_state
        self.app_state = app_state
        self.idle_timeout = float(config.timeout_keep_alive)
        self.loop = _loop or asyncio.get_event_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer: str | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.scheme = "http"
        self.queue: deque[Request] = deque()  # requests behind a slow one, in order
        self.busy = False  # a task is answering the queue
        self.scheduled = False  # _answer_ready is due
        self.closing = False  # close once what is queued is answered
        self.write_paused = False
        self.paused = False  # reading, paused by us (the peer does not read, or the queue is long)
        self.drained: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] | None = None
        self.read_at = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        RequestReader.__init__(self, KEYS)

    # the asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.state.connections.add(self)
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        if isinstance(peer, tuple):
            self.client, self.peer = (str(peer[0]), int(peer[1])), str(peer[0])
        if isinstance(local, tuple):
            self.server = (str(local[0]), int(local[1]))
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.read_at = self.loop.time()
        self.idle_timer = self.loop.call_later(self.idle_timeout, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.closing = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        for future in (self.drained, self.lost):
            if future is not None and not future.done():
                future.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.read_at = self.loop.time()
        if not self.head_fits(data):
            self._refuse(431, b"Request header fields too large.")
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request was read whole (and is answered); what follows is not HTTP to us.
            self.closing = True
            self._pause()
            assert self.transport is not None
            if not self.queue and not self.busy:
                self.transport.close()
        except httptools.HttpParserError:
            if self.too_big:  # a callback stopped the parser
                self._refuse(self.too_big, b"Request too large.")
            else:
                self._refuse(400, b"Invalid HTTP request received.")
        else:
            if self.write_paused or len(self.queue) > MAX_QUEUE:
                self._pause()  # resumed when the peer reads, or the queue drains

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.read_at = self.loop.time()  # the peer is reading: the connection moves
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self._resume()

    def _pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        """Read again once the peer reads its answers and the queue is short."""
        if self.paused and not self.write_paused and not self.closing and len(self.queue) <= MAX_QUEUE:
            assert self.transport is not None
            self.paused = False
            self.transport.resume_reading()

    # uvicorn's server

    def shutdown(self) -> None:
        """Graceful shutdown: close now when idle, else after what was asked is answered."""
        self.closing = True
        if not self.busy and not self.queue and self.transport is not None:
            self.transport.close()  # else closed once the requests read are answered

    def on_message_complete(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # pipelined behind a request that closed the connection
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        if keep_alive and not self.connection:
            version = "1.1"  # llhttp keeps no other version alive without a Connection header
        else:
            version = parser.get_http_version()  # builds a string: asked only when it can matter
            keep_alive = keep_alive and version != "1.0"  # as uvicorn: an HTTP/1.0 connection closes
        body = b"".join(self.body) if self.body else b""
        self.queue.append((parser.get_method(), self.url, self.headers, self.picked, body, keep_alive, version))
        if not self.busy and not self.scheduled:
            # Answered after every I/O callback of this poll, as a task would be: a sign-out read in
            # the same poll (authgate/store/subscription.py) is applied first (tests/integration/test_replicas.py).
            self.scheduled = True
            self.loop.call_soon(self._answer_ready)

    # answering

    def _answer_ready(self) -> None:
        """Answer what the quick path can, in order; a task takes over at the first that needs more."""
        self.scheduled = False
        queue, quick = self.queue, self.quick
        while queue and not self.busy:
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            method, url, _, picked, body, keep_alive, _ = queue[0]
            answer = quick(url, picked, self.peer, self.scheme) if quick is not None and not body else None
            if type(answer) is not Reply:  # the store, or the ASGI app, answers it
                self.busy = True
                task = self.loop.create_task(self._answer_queue(answer))
                self.state.tasks.add(task)
                task.add_done_callback(self.state.tasks.discard)
                return
            last = len(queue) == 1
            queue.popleft()
            try:
                data = reply_bytes(answer)
            except ValueError:  # a header that could split the response: never sent
                log.exception("an answer could not be written")
                transport.close()
                return
            # Closing (shutdown, an upgrade): every request read is answered, the last one closes.
            self._write(answer.status, data, method, answer.body, keep_alive and not (self.closing and last))
        if not self.busy and self.closing and self.transport is not None:
            self.transport.close()
        self._resume()

    def _write(self, status: int, data: bytes, method: bytes, body: bytes, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None
        if method == b"HEAD" and body:
            data = data[: -len(body)]
        head = STATUS[status] + server_headers(self.state.default_headers)
        if keep_alive:
            transport.write(head + data)
        else:
            transport.write(head + b"connection: close\r\n" + data)
            self.closing = True
            transport.close()
        self.state.total_requests += 1

    async def _answer_queue(self, answer: Reply | Later | None) -> None:
        """Answer the queue in order, from its head (whose quick ``answer`` was asked already)."""
        asked = True
        try:
            while self.queue and self.transport is not None and not self.transport.is_closing():
                method, url, headers, picked, body, keep_alive, version = self.queue[0]
                if not asked:
                    answer = self.quick(url, picked, self.peer, self.scheme) if self.quick and not body else None
                asked = False
                if answer is None:
                    result = await self._run_app(method, url, headers, body, version)
                    if result is SERVER_ERROR:  # as uvicorn: the app failed, the connection ends with its 500
                        keep_alive, self.closing = False, True
                    status, data, sent_body = result
                else:
                    reply = answer if type(answer) is Reply else await cast(Later, answer)
                    status, data, sent_body = reply.status, reply_bytes(reply), reply.body
                answer = None
                if self.transport.is_closing():
                    break  # the peer left, or a later request was refused, meanwhile
                self.queue.popleft()
                self._write(status, data, method, sent_body, keep_alive and not (self.closing and not self.queue))
                if self.write_paused:
                    self.drained = self.loop.create_future()
                    await self.drained
        except Exception:  # an answer that cannot be written: logged, and the connection ended
            log.exception("an answer could not be written")
            self.closing = True
        finally:
            if answer is not None and type(answer) is not Reply:
                cast(Later, answer).close()  # never started: the connection ended first
            self.busy = False
            if self.closing and self.transport is not None:
                self.transport.close()
            self._resume()

    async def _run_app(
        self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], body: bytes, version: str
    ) -> tuple[int, bytes, bytes]:
        """The ASGI door: the app runs as under any ASGI server; its response is buffered."""
        conn = (self.server, self.client, self.scheme)
        scope = scope_of(method, url, scope_headers(headers), version, conn=conn, state=self.app_state.copy())
        if scope is None:
            return 400, reply_bytes(Reply(400, body=b"Invalid HTTP request received.")), b""
        return await run_buffered(self.app, scope, body, self._gone)

    async def _gone(self) -> None:
        if self.lost is None:
            self.lost = self.loop.create_future()
        if self.transport is not None and not self.transport.is_closing():
            await self.lost

    def _refuse(self, status: int, message: bytes) -> None:
        """Answer a request that cannot be read, and close: the stream's framing is no longer known."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        log.warning("%s", message.decode())
        transport.write(refusal(status, message, self.state.default_headers))
        self.closing = True
        transport.close()

    def _idle_check(self) -> None:
        """Close a connection that moved nothing for the keep-alive timeout, or, while answers wait
        for the peer to read them, for ``SEND_TIMEOUT`` (as nginx's ``send_timeout``): one timer per
        connection, checked when it fires, not one armed per request."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        waited = self.loop.time() - self.read_at
        limit = SEND_TIMEOUT if self.busy or transport.get_write_buffer_size() else self.idle_timeout
        if waited >= limit:
            transport.close()
            return
        self.idle_timer = self.loop.call_later(max(limit - waited, 0.5), self._idle_check)
