"""The ASGI application: a thin dispatcher in front of a Starlette app.

The auth checks (every request of every protected app) and /healthz are answered here in raw
ASGI, without routing machinery; everything else goes to a plain Starlette app (a list of
routes). FastAPI's additions (dependency injection, request models, OpenAPI) had no use here:
the routes read a few query parameters and headers, and the API is no public schema.
Unexpected errors are logged with their stack and answered with a bare 500/503, never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from authgate.config import Settings
from authgate.errors import AuthgateError, IdPUnavailable, StoreUnavailable
from authgate.observability import metrics, requestid
from authgate.store import Store
from authgate.web import account, flow
from authgate.web.doors import HEALTHY, AuthRoutes
from authgate.web.raw import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    request_headers,
    send_reply,
)
from authgate.wiring.gateway import Gateway, build_gateway

log = logging.getLogger("authgate")

READY_TIMEOUT = 3.0
ID_HEADERS = {b"x-request-id": "x-request-id", b"traceparent": "traceparent"}


def _framework_app(gw: Gateway) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Fetch the IdP metadata early, but never block startup on it: readiness reports it.
        tasks = [asyncio.create_task(gw.sessions.run_invalidation())]
        if gw.outpost is not None:  # the apps are Authentik's providers, read and followed
            tasks.append(asyncio.create_task(gw.outpost.run()))
        else:
            tasks.append(asyncio.create_task(_warm(gw)))
        if gw.rules is not None:  # SIGHUP and changes of the rules file reload it
            gw.rules.listen()
            tasks.append(asyncio.create_task(gw.rules.watch()))
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await gw.aclose()

    answered: set[str] = set()  # the probes that have succeeded since this replica started

    async def readyz(_: Request) -> Response:
        """503 when this replica cannot serve: the store is unreachable, or the global IdP has not
        answered once since start (a setup problem). An IdP that answered before and fails now,
        or an app's own IdP, is reported under ``degraded`` with 200: signed-in users still pass
        (their sessions are in the store), and taking every replica out would lock them out too."""
        problems: dict[str, str] = {}
        degraded: dict[str, str] = {}
        probes: dict[str, Callable[[], Awaitable[object]]] = {"store": gw.store.ping}
        for name, client in gw.clients.named():
            if not name and gw.outpost is not None:
                continue  # outpost mode has no global client: each provider's is probed
            # The shared live probe of sign-in starts (a cached discovery document alone would hide
            # an outage): one request per few seconds at most, whoever asks.
            probes["idp" if not name else f"idp {name}"] = client.ensure_reachable
        for name, probe in probes.items():
            try:
                async with asyncio.timeout(READY_TIMEOUT):
                    await probe()
                answered.add(name)
            except (AuthgateError, TimeoutError) as exc:
                blocking = name == "store" or (name == "idp" and name not in answered)
                (problems if blocking else degraded)[name] = str(exc) or "timeout"
        # A failed rules reload keeps the rules in force, so the replica still serves: said, not 503.
        extra: dict[str, object] = {"rules": gw.rules.error} if gw.rules is not None and gw.rules.error else {}
        if gw.outpost is not None:
            extra["outpost"] = outpost_state(gw)
            if gw.outpost.providers is None:  # neither Authentik nor the cache has given a list yet
                problems["outpost"] = gw.outpost.error or "the providers have not been read yet"
            elif gw.outpost.error or not gw.outpost.connected:
                degraded["outpost"] = gw.outpost.error or "the WebSocket to Authentik is not connected"
        if degraded:
            extra["degraded"] = degraded
        if problems:
            return JSONResponse({"ready": False, "problems": problems, **extra}, 503)
        return JSONResponse({"ready": True, **extra})

    async def prometheus(_: Request) -> Response:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def authgate_error(_: Request, exc: Exception) -> Response:
        # A route's own ladder answers what a person can meet; this is the net under it.
        if isinstance(exc, StoreUnavailable | IdPUnavailable):
            log.error("request failed: %s", exc)
            return PlainTextResponse("temporarily unavailable\n", status_code=503)
        log.warning("request failed: %s", exc)
        return PlainTextResponse("bad request\n", status_code=400)

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return PlainTextResponse("internal error\n", status_code=500)

    routes = [
        *flow.routes(gw.site.prefix),
        *account.routes(gw.site.prefix),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
    ]
    api = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={AuthgateError: authgate_error, Exception: unexpected},
    )
    api.state.gateway = gw
    return api


def outpost_state(gw: Gateway) -> dict[str, object]:
    """What /readyz says of outpost mode: how many providers, how old the list, the WebSocket."""
    follower = gw.outpost
    assert follower is not None
    providers = follower.providers or []
    return {
        "outpost": follower.outpost.name if follower.outpost else "",
        "providers": len(providers),
        "served": sorted(p.host for p in providers if p.served),
        "age_seconds": round(follower.age(), 1),
        "connected": follower.connected,
    }


async def _warm(gw: Gateway) -> None:
    try:
        await gw.oidc.metadata()
        await gw.oidc.keys.keys()
    except AuthgateError as exc:
        log.error("the IdP is not usable yet: %s (sign-ins will fail until it is)", exc)


def _with_request_id(send: Send, request_id: str) -> Send:
    """``send`` adding ``X-Request-Id`` to the response (the browser routes: sign-in, sign-out ...)."""
    header = (b"x-request-id", request_id.encode())

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        await send(message)

    return sending


def create_app(
    settings: Settings, *, store: Store | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> ASGIApp:
    gw = build_gateway(settings, store=store, transport=transport)
    api = _framework_app(gw)
    routes = AuthRoutes(gw, api)
    callers, auth_check = routes.callers, routes.asgi

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            caller = callers.get(scope["path"])
            if caller is not None:
                await auth_check(caller, scope, send)
                return
            if scope["path"] == "/healthz":
                await send_reply(send, HEALTHY)
                return
            headers = request_headers(scope, ID_HEADERS)
            requestid.current.set(headers)
            send = _with_request_id(send, requestid.current_id())
        await api(scope, receive, send)

    app.gateway = gw  # type: ignore[attr-defined]
    app.quick = routes.quick  # type: ignore[attr-defined]  # the wire door's (authgate/web/wire.py)
    return app
