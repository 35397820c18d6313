"""The auth routes' one decision path, and its two doors.

The ASGI door (``AuthRoutes.asgi``) answers an auth check that reached the ASGI app; the wire door
(authgate/web/wire.py, authgate's own HTTP/1.1 protocol) asks ``AuthRoutes.quick`` with the request
as read off the socket. Both run the same functions in the same order: parse the check
(authgate/web/parse.py), answer from this replica's cache of verified sessions with no await
(``from_cache``), else from the store (``settle``). Only the ASGI door runs a browser route asked
about in a check (authgate/web/inline.py): ``quick`` leaves those, and any spelling of the auth
paths it does not hold verbatim, to the ASGI app.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from authgate.observability import requestid
from authgate.web import auth, inline
from authgate.web.raw import ASGIApp, Reply, Scope, Send, client_ip, request_headers, send_reply
from authgate.wiring.gateway import Gateway

log = logging.getLogger("authgate")

Later = Coroutine[Any, Any, Reply]  # an answer that needs the store
HEALTHY = Reply(200, body=b"ok\n")


def identified(reply: Reply, headers: dict[str, str]) -> Reply:
    """``reply`` with the request's id. Every answer but an allow carries it (a proxy hands an
    allow's headers to no client; the memoised 200 stays one shared object, and no id is made)."""
    if reply.status == 200:
        return reply
    extra = (b"x-request-id", requestid.id_of(headers).encode())
    return Reply(reply.status, [*reply.headers, extra], reply.body, reply.content_type)


class AuthRoutes:
    """The three auth paths (nginx, Traefik, Caddy) and /healthz of one gateway."""

    def __init__(self, gw: Gateway, api: ASGIApp) -> None:
        self.gw, self.api = gw, api
        prefix = gw.site.prefix
        # The auth paths, each to its caller (Traefik's and Caddy's forward auth may redirect).
        self.callers = {
            f"{prefix}/auth/nginx": auth.Caller.NGINX,
            f"{prefix}/auth/traefik": auth.Caller.FORWARD_AUTH,
            f"{prefix}/auth/caddy": auth.Caller.FORWARD_AUTH,
        }
        self.raw_callers = {path.encode(): caller for path, caller in self.callers.items()}

    async def asgi(self, caller: auth.Caller, scope: Scope, send: Send) -> None:
        """The ASGI door."""
        gw = self.gw
        headers = request_headers(scope, auth.WANTED_HEADERS)
        try:
            check = auth.parse_check(gw, caller, headers, client_ip(scope), scope["scheme"])
            if isinstance(check, auth.Check):  # the common case first
                # A signed-in user seen lately is answered with no await in between.
                reply = auth.from_cache(gw, check) or await auth.from_store(gw, caller, check, headers)
            elif isinstance(check, auth.BrowserRoute):
                reply = await inline.answer(self.api, scope, check.original, check.path)
            else:
                reply = check
        except Exception:  # noqa: BLE001 (logged with its stack by _failed)
            reply = _failed(headers)
        await send_reply(send, reply, requestid.id_of(headers) if reply.status != 200 else None)

    def quick(self, target: bytes, headers: dict[str, str], peer: str | None, scheme: str) -> Reply | Later | None:
        """The wire door's question, with the request target as sent and the wanted headers as
        ``pick_headers`` picks them (authgate/web/reading.py): the answer now; or what answers it
        from the store (a coroutine, to be awaited); or None, for the ASGI app."""
        if target == b"/healthz":
            return HEALTHY
        caller = self.raw_callers.get(target)
        if caller is None:
            return None
        gw = self.gw
        try:
            check = auth.parse_check(gw, caller, headers, peer, scheme)
            if isinstance(check, auth.Check):
                reply = auth.from_cache(gw, check)
                if reply is None:
                    return self._settle(caller, check, headers)
            elif isinstance(check, auth.BrowserRoute):
                return None
            else:
                reply = check
        except Exception:  # noqa: BLE001 (logged with its stack by _failed)
            reply = _failed(headers)
        return identified(reply, headers)

    async def _settle(self, caller: auth.Caller, check: auth.Check, headers: dict[str, str]) -> Reply:
        try:
            reply = await auth.from_store(self.gw, caller, check, headers)
        except Exception:  # noqa: BLE001 (logged with its stack by _failed)
            reply = _failed(headers)
        return identified(reply, headers)


def _failed(headers: dict[str, str]) -> Reply:
    requestid.current.set(headers)
    log.exception("auth check failed unexpectedly")
    return Reply(503)
