"""A fake Authentik for outpost mode, built from Authentik's source (not from authgate's code).

What it plays, and where in Authentik that is:
- ``GET /api/v3/outposts/instances/``: the outposts the token's service account may see, one
  (authentik/outposts/api/outposts.py); Bearer token: none 401, a wrong one 403 (DRF's answers).
- ``GET /api/v3/outposts/proxy/?page=&page_size=``: ``ProxyOutpostConfigSerializer``'s fields
  (authentik/providers/proxy/api.py), paginated as Authentik paginates (``pagination.next`` is 0 on
  the last page). ``oidc_configuration`` is built from the request's Host, as
  ``ProviderInfoView.get_info`` does with ``build_absolute_uri``; a Proxy provider has no signing
  key, so it lists ``HS256`` only.
- ``/ws/outpost/<pk>/``: the outpost's WebSocket (authentik/outposts/consumer.py): a wrong token or
  pk is refused before accept; each message is answered ``ACK``; a ``HELLO``'s args are recorded per
  ``instance_uuid`` (what the outpost page lists); ``TRIGGER_UPDATE`` goes to every connected
  instance when the providers change; ``SESSION_END`` carries ``{"type": "event.session.end",
  "session_id": <hashed session key>}``, the ``sid`` of the user's ID tokens, and the proxy
  provider's own ``PROVIDER_SPECIFIC`` ``{"type": "event.provider.specific", "sub_type": "logout",
  "session_id": ...}`` the same (authentik/providers/proxy/tasks.py).
- Everything else (``/application/o/...``): the OIDC side, passed to the node test IdP in Authentik's
  layout (tests/support/authentik_idp.py) with the Host header kept, one address like Authentik's.

Test controls under ``/__fake/``: ``providers`` (PUT the list), ``session_end`` and ``provider_logout``
(POST), ``hellos`` (GET), ``outage`` (POST ``{"on": bool}``: API and OIDC answer 503, sockets closed and refused),
``outpost`` (PUT type/refresh interval). Run: ``python -m tests.support.fake_authentik PORT NODE_URL TOKEN``.
"""

from __future__ import annotations

import hmac
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.procs import Proc, free_port

OUTPOST_PK = "5b2e4d4c-2a3e-4f4e-9a47-7d6a0c1b9e01"
#: Small pages, so that authgate's reading of every page is exercised (Authentik's default is bigger).
MAX_PAGE_SIZE = 2
HOP = {"host", "connection", "content-length", "transfer-encoding", "accept-encoding", "keep-alive"}
ROOT = Path(__file__).resolve().parents[2]


def provider_config(p: dict[str, Any], base: str) -> dict[str, Any]:
    """One ``ProxyOutpostConfig`` as Authentik's serializer writes it, URLs on ``base`` (the request's)."""
    slug = p["slug"]
    oidc = {
        "issuer": f"{base}/application/o/{slug}/",
        "authorization_endpoint": f"{base}/application/o/authorize/",
        "token_endpoint": f"{base}/application/o/token/",
        "userinfo_endpoint": f"{base}/application/o/userinfo/",
        "end_session_endpoint": f"{base}/application/o/{slug}/end-session/",
        "introspection_endpoint": f"{base}/application/o/introspect/",
        "jwks_uri": f"{base}/application/o/{slug}/jwks/",
        "response_types_supported": ["code", "id_token", "id_token token", "code token", "code id_token"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }
    return {
        "pk": p["pk"],
        "name": p["name"],
        "internal_host": p.get("internal_host", ""),
        "external_host": p["external_host"],
        "internal_host_ssl_validation": True,
        "client_id": p["client_id"],
        "client_secret": p["client_secret"],
        "oidc_configuration": oidc,
        "cookie_secret": "cookie-secret-of-" + slug,
        "certificate": None,
        "skip_path_regex": p.get("skip_path_regex", ""),
        "basic_auth_enabled": p.get("basic_auth_enabled", False),
        "basic_auth_password_attribute": p.get("basic_auth_password_attribute", ""),
        "basic_auth_user_attribute": p.get("basic_auth_user_attribute", ""),
        "mode": p.get("mode", "forward_single"),
        "cookie_domain": p.get("cookie_domain", ""),
        # get_access_token_validity: timedelta_from_string(...).total_seconds(), a float (typed float | None).
        "access_token_validity": _validity(p.get("access_token_validity", 300)),
        "intercept_header_auth": p.get("intercept_header_auth", True),
        "scopes_to_request": p.get("scopes", ["openid", "email", "profile", "ak_proxy"]),
        "assigned_application_slug": slug,
        "assigned_application_name": p.get("app_name", slug.title()),
    }


def _validity(value: Any) -> float | None:
    return None if value is None else float(value)


def build_app(node_url: str, token: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    state: dict[str, Any] = {"providers": [], "outage": False, "type": "proxy", "refresh": 0, "hellos": {}}
    sockets: set[WebSocket] = set()
    node = httpx.AsyncClient(base_url=node_url, timeout=20.0)

    def refused(headers: Any) -> int:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 401
        return 0 if hmac.compare_digest(auth[7:].encode(), token.encode()) else 403

    def base_of(request: Request) -> str:
        return f"{request.url.scheme}://{request.headers['host']}"

    async def api(request: Request) -> Response:
        if state["outage"]:
            return Response("upstream unavailable", 503)
        if status := refused(request.headers):
            detail = "Authentication credentials were not provided." if status == 401 else "Token invalid/expired"
            return JSONResponse({"detail": detail}, status)
        if request.url.path == "/api/v3/outposts/instances/":
            outpost = {
                "pk": OUTPOST_PK,
                "name": "authgate-outpost",
                "type": state["type"],
                "providers": [p["pk"] for p in state["providers"]],
                "service_connection": None,
                "token_identifier": "ak-outpost-" + OUTPOST_PK + "-api",
                "config": {"authentik_host": base_of(request), "log_level": "info"},
                "managed": None,
                "refresh_interval_s": state["refresh"],
            }
            return JSONResponse(_page([outpost], 1, 20))
        page = int(request.query_params.get("page", "1"))
        size = min(int(request.query_params.get("page_size", "20")), MAX_PAGE_SIZE)
        configs = [provider_config(p, base_of(request)) for p in sorted(state["providers"], key=lambda p: p["name"])]
        return JSONResponse(_page(configs, page, size))

    async def websocket(ws: WebSocket) -> None:
        if state["outage"] or refused(ws.headers) or ws.path_params["pk"] != OUTPOST_PK:
            await ws.close()  # before accept: the handshake is refused (channels' DenyConnection)
            return
        await ws.accept()
        instance = ws.query_params.get("instance_uuid") or str(uuid.uuid4())
        attempt = ws.query_params.get("attempt", "")
        sockets.add(ws)
        try:
            while True:
                msg = json.loads(await ws.receive_text())
                args = dict(msg.get("args") or {})
                seen = state["hellos"].setdefault(instance, {"hellos": 0})
                seen.update(last_seen=time.time(), hostname=args.pop("hostname", ""), attempt=attempt)
                if msg.get("instruction") == 1:
                    seen["hellos"] += 1
                    seen.update(version=args.pop("version", None), build_hash=args.pop("buildHash", ""), args=args)
                await ws.send_json({"instruction": 0, "args": {}})
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            sockets.discard(ws)

    async def broadcast(message: dict[str, Any]) -> int:
        sent = 0
        for ws in list(sockets):
            try:
                await ws.send_json(message)
                sent += 1
            except (RuntimeError, WebSocketDisconnect):
                sockets.discard(ws)
        return sent

    async def control(request: Request) -> Response:
        what = request.path_params["what"]
        body = await request.json() if request.method in ("PUT", "POST") else {}
        if what == "providers":
            state["providers"] = body
            return JSONResponse({"sent": await broadcast({"instruction": 2, "args": {}})})
        if what == "session_end":
            event = {"type": "event.session.end", "session_id": body["session_id"]}
            return JSONResponse({"sent": await broadcast({"instruction": 4, "args": event})})
        if what == "provider_logout":
            event = {"type": "event.provider.specific", "sub_type": "logout", "session_id": body["session_id"]}
            return JSONResponse({"sent": await broadcast({"instruction": 3, "args": event})})
        if what == "hellos":
            return JSONResponse(state["hellos"])
        if what == "outage":
            state["outage"] = bool(body["on"])
            if state["outage"]:
                for ws in list(sockets):
                    await ws.close(1011)
                sockets.clear()
            return JSONResponse({"outage": state["outage"]})
        if what == "outpost":
            state["type"] = body.get("type", state["type"])
            state["refresh"] = body.get("refresh_interval_s", state["refresh"])
            return JSONResponse({"type": state["type"]})
        return Response("unknown control", 404)

    async def oidc(request: Request) -> Response:
        if state["outage"]:
            return Response("upstream unavailable", 503)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP]
        headers.append(("host", request.headers["host"]))
        upstream = await node.request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
        )
        drop = HOP | {"content-encoding"}
        reply = Response(upstream.content, upstream.status_code)
        reply.raw_headers = [
            (k, v) for k, v in upstream.headers.raw if k.decode().lower() not in drop and k.lower() != b"date"
        ] + [(b"content-length", str(len(upstream.content)).encode())]
        return reply

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/api/v3/outposts/instances/", api),
            Route("/api/v3/outposts/proxy/", api),
            WebSocketRoute("/ws/outpost/{pk}/", websocket),
            Route("/__fake/{what}", control, methods=methods),
            Route("/{path:path}", oidc, methods=methods),
        ]
    )


def _page(results: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    """Authentik's pagination (authentik/api/pagination.py): ``next``/``previous`` page numbers, 0 for none."""
    total_pages = max(1, -(-len(results) // size))
    start = (page - 1) * size
    return {
        "pagination": {
            "next": page + 1 if page < total_pages else 0,
            "previous": page - 1 if page > 1 else 0,
            "count": len(results),
            "current": page,
            "total_pages": total_pages,
            "start_index": start + 1 if results else 0,
            "end_index": min(start + size, len(results)),
        },
        "results": results[start : start + size],
    }


@dataclass
class FakeAuthentik:
    """The running fake: ``url`` is its loopback address (``AUTHENTIK_HOST``), ``browser_url`` the
    public one (``AUTHENTIK_HOST_BROWSER``), ``token`` the outpost's token."""

    proc: Proc
    port: int
    token: str
    public_host: str = "auth.test"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def browser_url(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    def _call(self, method: str, what: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.url}/__fake/{what}", json=body, timeout=10.0)
        r.raise_for_status()
        return r.json()

    def set_providers(self, providers: list[dict[str, Any]]) -> int:
        """The outpost's providers from now on; returns how many instances were sent TriggerUpdate."""
        return int(self._call("PUT", "providers", providers)["sent"])

    def session_end(self, session_id: str, *, as_provider: bool = False) -> int:
        """Authentik's SessionEnd, or (``as_provider``) the proxy provider's own logout message."""
        what = "provider_logout" if as_provider else "session_end"
        return int(self._call("POST", what, {"session_id": session_id})["sent"])

    def hellos(self) -> dict[str, dict[str, Any]]:
        return dict(self._call("GET", "hellos"))

    def outage(self, on: bool) -> None:
        self._call("POST", "outage", {"on": on})

    def set_outpost(self, **fields: Any) -> None:
        self._call("PUT", "outpost", fields)


def start_fake_authentik(tmp: Path, node_url: str, token: str, *, port: int | None = None) -> FakeAuthentik:
    port = port or free_port()
    argv = [sys.executable, "-m", "tests.support.fake_authentik", str(port), node_url, token]
    proc = Proc(f"fake-authentik-{port}", argv, log_dir=tmp, cwd=ROOT).start().wait_port(port)
    return FakeAuthentik(proc, port, token)


def main() -> None:
    import uvicorn

    port, node_url, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(build_app(node_url, token), host="127.0.0.1", port=port, ws="websockets", log_level="warning")


if __name__ == "__main__":
    main()
