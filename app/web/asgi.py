"""The ASGI application: a thin dispatcher in front of FastAPI.

The auth checks (every request of every protected app) and /healthz are answered here in raw
ASGI, without routing or dependency machinery; everything else goes to the FastAPI app.
Unexpected errors are logged with their stack and answered with a bare 500/503, never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import metrics
from app.config import Settings
from app.errors import AuthgateError
from app.store import Store
from app.web import auth
from app.web.flow import build_router
from app.web.gateway import Gateway, build_gateway
from app.web.raw import ASGIApp, Receive, Reply, Scope, Send, client_ip, request_headers, send_reply

log = logging.getLogger("authgate")

READY_TIMEOUT = 3.0


def _framework_app(gw: Gateway) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Fetch the IdP metadata early, but never block startup on it: readiness reports it.
        warm = asyncio.create_task(_warm(gw))
        invalidation = asyncio.create_task(gw.sessions.run_invalidation())
        yield
        for task in (warm, invalidation):
            task.cancel()
        await asyncio.gather(warm, invalidation, return_exceptions=True)
        await gw.aclose()

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    api.state.gateway = gw
    api.include_router(build_router(gw.prefix))

    @api.get("/readyz")
    async def readyz() -> Response:
        problems: dict[str, str] = {}
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await gw.store.ping()
        except (AuthgateError, TimeoutError) as exc:
            problems["store"] = str(exc) or "timeout"
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await gw.oidc.metadata()
        except (AuthgateError, TimeoutError) as exc:
            problems["idp"] = str(exc) or "timeout"
        if problems:
            return JSONResponse({"ready": False, "problems": problems}, 503)
        return JSONResponse({"ready": True})

    @api.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @api.exception_handler(AuthgateError)
    async def authgate_error(_: Request, exc: AuthgateError) -> Response:
        log.warning("request failed: %s", exc)
        return PlainTextResponse("bad request\n", status_code=400)

    @api.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return PlainTextResponse("internal error\n", status_code=500)

    return api


async def _warm(gw: Gateway) -> None:
    try:
        await gw.oidc.metadata()
        await gw.oidc.keys.keys()
    except AuthgateError as exc:
        log.error("the IdP is not usable yet: %s (sign-ins will fail until it is)", exc)


def create_app(
    settings: Settings, *, store: Store | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> ASGIApp:
    gw = build_gateway(settings, store=store, transport=transport)
    api = _framework_app(gw)
    # The auth paths, each to whether it is nginx's (Traefik's and Caddy's forward auth may redirect).
    routes = {f"{gw.prefix}/auth/{kind}": kind == "nginx" for kind in ("nginx", "traefik", "caddy")}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            nginx = routes.get(scope["path"])
            if nginx is not None:
                try:
                    headers = request_headers(scope, auth.WANTED_HEADERS)
                    question = auth.ask(gw, nginx, headers, client_ip(scope), scope["scheme"])
                    if isinstance(question, Reply):
                        reply = question
                    else:
                        # A signed-in user seen lately is answered with no await in between.
                        reply = auth.from_cache(gw, question) or await auth.from_store(gw, nginx, question, headers)
                except Exception:
                    log.exception("auth check failed unexpectedly")
                    reply = Reply(503)
                await send_reply(send, reply)
                return
            if scope["path"] == "/healthz":
                await send_reply(send, Reply(200, body=b"ok\n"))
                return
        await api(scope, receive, send)

    app.gateway = gw  # type: ignore[attr-defined]
    return app
