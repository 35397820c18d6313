"""What an auth check costs, step by step, in process: the cached check, and the one that misses.

    make bench-steps            (or: .venv/bin/python -m bench.steps)

Builds the gateway's ASGI app on the in-memory store with one signed-in session, then times the
whole app call and each step of it with timeit, under uvloop as uvicorn runs it. Two request
shapes: the three headers wrk sends in bench/run.py, and the fifteen or so nginx passes on from
a browser; then the browser's request to a host with path rules (a rules file with a deny, a public
and two group rules), where the check also decides which rule applies. Numbers are microseconds
per call on this machine: compare steps within one run.
The step a profile of the live worker points at (py-spy, under bench/run.py's load) is then
measured here, changed, and measured again.

The miss path's steps: opening a session read from the store (AES-GCM, JSON, the session object),
building its 200 reply, and what the unsealed memo (authgate/session/unsealed.py) costs instead; then one GET
against a real redis-server, one at a time and 32 at once, through redis-py's client and through
authgate's pipelined read connection (authgate/store/pipeline.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import timeit
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from authgate.access import forwarded
from authgate.config import load_settings
from authgate.model import TokenSet
from authgate.store import MemoryStore
from authgate.store.keys import session_key
from authgate.web import auth
from authgate.web.asgi import create_app
from authgate.web.raw import client_ip, request_headers, send_reply
from bench.baselines import scratch
from tests.support.servers import TEST_SECRET

NUMBER = 100_000

#: The third shape's rules file: the request (/dashboard) meets the host's allow-lists after every
#: path rule was tried.
RULES = """
[[apps]]
host = "app.test"
groups = ["users"]
rules = [
    { path = "^/admin", groups = ["ops"] },
    { path = "^/internal/", policy = "deny" },
    { path = "^/api/health$", policy = "public" },
    { path = "^/reports/", groups = ["admins"], methods = ["GET"] },
]
"""

BROWSER_HEADERS = [
    (b"x-original-method", b"GET"),
    (b"x-real-ip", b"192.0.2.7"),
    (b"x-forwarded-for", b"192.0.2.7"),
    (b"x-forwarded-proto", b"https"),
    (b"connection", b"close"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-dest", b"document"),
    (b"upgrade-insecure-requests", b"1"),
]


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends (the cached path) without the event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the cached path suspended")


def per_call(fn: Callable[[], object]) -> float:
    return min(timeit.repeat(fn, number=NUMBER, repeat=5)) / NUMBER * 1e6


def time_steps(app: Any, gw: Any, ticket: Any, scope: dict[str, Any]) -> list[tuple[str, float]]:
    async def send(message: dict[str, Any]) -> None:
        return None

    run_sync(app(scope, None, send))  # warm: the session is now in the local cache
    wanted = request_headers(scope, auth.WANTED_HEADERS)
    check = auth.parse_check(gw, auth.Caller.NGINX, wanted, "127.0.0.1", "http")
    assert isinstance(check, auth.Check)
    reply = auth.from_cache(gw, check)
    assert reply is not None and reply.status == 200
    steps: list[tuple[str, Callable[[], object]]] = [
        ("whole ASGI call (cache hit)", lambda: run_sync(app(scope, None, send))),
        ("  request_headers", lambda: request_headers(scope, auth.WANTED_HEADERS)),
        (
            "  parse_check (trust, parse, rule, tickets)",
            lambda: auth.parse_check(gw, auth.Caller.NGINX, wanted, client_ip(scope), "http"),
        ),
        ("    forwarded.from_original", lambda: forwarded.from_original(wanted, default_scheme="http")),
        ("    cookies.tickets", lambda: gw.cookies.tickets(wanted["cookie"])),
        ("  from_cache (lookup, policy, reply)", lambda: auth.from_cache(gw, check)),
        ("    sessions.cached", lambda: gw.sessions.cached(ticket)),
        ("  send_reply (2 ASGI messages)", lambda: run_sync(send_reply(send, reply))),
    ]
    return [(name, per_call(fn)) for name, fn in steps]


class _Loop:
    """Just what the wire door asks of its loop, run at once: data in, bytes out, nothing else."""

    def call_soon(self, fn: Callable[[], object]) -> None:
        fn()

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        return None

    def time(self) -> float:
        return 0.0


class _Transport:
    def __init__(self) -> None:
        self.sent = 0

    def write(self, data: bytes) -> None:
        self.sent += 1

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else None


def time_wire(app: Any, scope: dict[str, Any]) -> list[tuple[str, float]]:
    """The wire door (authgate/web/wire.py): request bytes in, answer written, no event loop."""
    from types import SimpleNamespace

    import httptools

    from authgate.web.wire import WireProtocol

    config = SimpleNamespace(loaded=True, loaded_app=app, timeout_keep_alive=5)
    state = SimpleNamespace(connections=set(), tasks=set(), default_headers=[(b"date", b"x")], total_requests=0)
    protocol = WireProtocol(config, state, {}, _loop=_Loop())
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    kept = [(n, v) for n, v in scope["headers"] if n != b"connection"]  # a connection kept open
    head = [b"GET " + scope["path"].encode() + b" HTTP/1.1"] + [n + b": " + v for n, v in kept]
    request = b"\r\n".join(head) + b"\r\n\r\n"

    async def send(message: dict[str, Any]) -> None:
        return None

    run_sync(app(scope, None, send))  # the session in the cache again (the steps before may outlast its TTL)
    protocol.data_received(request)
    assert transport.sent == 1, "the cached check was answered at once"

    class Null:
        def __getattr__(self, name: str) -> Callable[..., None]:
            return lambda *args: None

    parser = httptools.HttpRequestParser(Null())
    steps: list[tuple[str, Callable[[], object]]] = [
        ("wire door: bytes in, answer written", lambda: protocol.data_received(request)),
        ("  httptools alone, no-op callbacks", lambda: parser.feed_data(request)),
    ]
    return [(name, per_call(fn)) for name, fn in steps]


def time_miss_steps(gw: Any, ticket: Any, blob: bytes) -> list[tuple[str, float]]:
    from authgate.access.identity_headers import identity_headers
    from authgate.model import SessionData
    from authgate.session.sealing import unseal

    raw = unseal(ticket.key, ticket.session_id, blob)
    data = SessionData.from_json(raw)
    memo = gw.sessions.unsealed
    memo.put(ticket.session_id, ticket.key, blob, data)
    sets = gw.site.header_sets
    steps: list[tuple[str, Callable[[], object]]] = [
        ("unseal (AES-GCM open, JSON)", lambda: unseal(ticket.key, ticket.session_id, blob)),
        ("SessionData.from_json", lambda: SessionData.from_json(raw)),
        ("identity_headers (the 200's headers)", lambda: identity_headers(data.identity, data.access_token, sets)),
        ("unsealed memo hit (all of the above)", lambda: memo.get(ticket.session_id, ticket.key, blob)),
    ]
    return [(name, per_call(fn)) for name, fn in steps]


async def time_store_gets(value: bytes, tmp: Path) -> list[tuple[str, float]]:
    """Microseconds per GET against a real redis-server (its files in ``tmp``): redis-py's client
    and the pipeline."""
    import redis.asyncio

    from authgate.store.redis import RedisStore
    from tests.support.servers import start_redis

    server = start_redis(tmp)
    store = RedisStore.from_url(server.url, timeout=2.0)
    client = redis.asyncio.Redis.from_url(server.url)
    try:
        await store.set("k", value, 60)
        results = []
        for label, get in (("redis-py", lambda: client.get("k")), ("pipeline", lambda: store.get("k"))):
            for concurrent in (1, 32):
                rounds = 20_000 // concurrent
                start = time.perf_counter()
                for _ in range(rounds):
                    await asyncio.gather(*(get() for _ in range(concurrent)))
                took = (time.perf_counter() - start) / (rounds * concurrent) * 1e6
                results.append((f"GET {label}, {concurrent} at once", took))
        return results
    finally:
        await store.close()
        await client.aclose()
        server.proc.stop()


async def main(tmp: Path) -> None:
    logging.disable(logging.WARNING)  # the in-memory store's "one process only" warning
    env = {
        "AUTHGATE_ISSUER": "http://idp.test",
        "AUTHGATE_CLIENT_ID": "bench",
        "AUTHGATE_CLIENT_SECRET": "bench",
        "AUTHGATE_SECRET": TEST_SECRET,
        "AUTHGATE_LOG_LEVEL": "warning",
        "AUTHGATE_SESSION_CACHE_TTL": "3600",  # the timed calls outlast the default 15 s
    }
    settings = load_settings(env)
    rules_file = tmp / "rules.toml"
    rules_file.write_text(RULES)
    ruled = create_app(load_settings({**env, "AUTHGATE_CONFIG": str(rules_file)}), store=MemoryStore())
    app = create_app(settings, store=MemoryStore())
    gw = app.gateway  # type: ignore[attr-defined]
    feeds = [asyncio.create_task(g.sessions.run_invalidation()) for g in (gw, ruled.gateway)]
    await asyncio.sleep(0)
    claims = {"sub": "u1", "preferred_username": "alice", "email": "alice@corp.test", "groups": ["admins", "users"]}
    tickets = []
    for label, asgi, extra in (
        ("wrk's 3 request headers", app, []),
        ("a browser's 15, via nginx", app, BROWSER_HEADERS),
        ("a browser's 15, a host with path rules", ruled, BROWSER_HEADERS),
    ):
        g = asgi.gateway
        ticket = await g.sessions.create(TokenSet("a" * 800, "id", "refresh", 3600, claims), scope="app.test")
        cookie = f"{g.site.cookie_name}={g.signer.dumps(ticket)}".encode()
        base = [(b"host", b"127.0.0.1:9000"), (b"x-original-url", b"https://app.test/dashboard"), (b"cookie", cookie)]
        tickets.append(ticket)
        scope = {"type": "http", "path": "/outpost.goauthentik.io/auth/nginx", "scheme": "http"}
        scope |= {"client": ("127.0.0.1", 40000), "headers": base + extra}
        print(f"\n{label}: microseconds per call (best of 5 x {NUMBER})")
        for name, took in time_steps(asgi, g, ticket, scope) + time_wire(asgi, scope):
            print(f"  {name:40}{took:8.2f}")
    print(f"\nthe miss path: microseconds per call (best of 5 x {NUMBER})")
    blob = await gw.store.get(session_key(tickets[0].session_id))
    for name, took in time_miss_steps(gw, tickets[0], blob):
        print(f"  {name:40}{took:8.2f}")
    print("\none store GET of a session-sized value, real redis-server on loopback: microseconds per GET")
    for name, took in await time_store_gets(b"x" * 1300, tmp):
        print(f"  {name:40}{took:8.2f}")
    for feed in feeds:
        feed.cancel()
    await asyncio.gather(*feeds, return_exceptions=True)


if __name__ == "__main__":
    with scratch("authgate-steps-") as (folder, _):  # removed when the steps end, however they end
        uvloop.run(main(folder))
