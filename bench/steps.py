"""What a cached auth check costs, step by step, in process (no server, no network).

    make bench-steps            (or: .venv/bin/python -m bench.steps)

Builds the gateway's ASGI app on the in-memory store with one signed-in session, then times the
whole app call and each step of it with timeit, under uvloop as uvicorn runs it. Two request
shapes: the three headers wrk sends in bench/run.py, and the fifteen or so nginx passes on from
a browser. Numbers are microseconds per call on this machine: compare steps within one run.
The step a profile of the live worker points at (py-spy, under bench/run.py's load) is then
measured here, changed, and measured again.
"""

from __future__ import annotations

import asyncio
import logging
import timeit
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from app import forwarded
from app.config import load_settings
from app.store import MemoryStore
from app.types import TokenSet
from app.web import auth
from app.web.asgi import create_app
from app.web.raw import client_ip, request_headers, send_reply
from tests.support.servers import TEST_SECRET

NUMBER = 100_000

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


async def main() -> None:
    logging.disable(logging.WARNING)  # the in-memory store's "one process only" warning
    settings = load_settings(
        {
            "AUTHGATE_ISSUER": "http://idp.test",
            "AUTHGATE_CLIENT_ID": "bench",
            "AUTHGATE_CLIENT_SECRET": "bench",
            "AUTHGATE_SECRET": TEST_SECRET,
            "AUTHGATE_LOG_LEVEL": "warning",
        }
    )
    app = create_app(settings, store=MemoryStore())
    gw = app.gateway  # type: ignore[attr-defined]
    feed = asyncio.create_task(gw.sessions.run_invalidation())
    await asyncio.sleep(0)
    claims = {"sub": "u1", "preferred_username": "alice", "email": "alice@corp.test", "groups": ["admins", "users"]}
    ticket = await gw.sessions.create(TokenSet("a" * 800, "id", "refresh", 3600, claims), scope="app.test")
    cookie = f"{gw.site.cookie_name}={gw.signer.dumps(ticket)}".encode()
    base = [(b"host", b"127.0.0.1:9000"), (b"x-original-url", b"https://app.test/dashboard"), (b"cookie", cookie)]
    for label, headers in (("wrk's 3 request headers", base), ("a browser's 15, via nginx", base + BROWSER_HEADERS)):
        scope = {"type": "http", "path": "/outpost.goauthentik.io/auth/nginx", "scheme": "http"}
        scope |= {"client": ("127.0.0.1", 40000), "headers": headers}
        print(f"\n{label}: microseconds per call (best of 5 x {NUMBER})")
        for name, took in time_steps(app, gw, ticket, scope):
            print(f"  {name:40}{took:8.2f}")
    feed.cancel()
    await asyncio.gather(feed, return_exceptions=True)


if __name__ == "__main__":
    uvloop.run(main())
