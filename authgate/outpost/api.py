"""Authentik's outpost API, as the outpost reads it: its own outpost, then every page of its providers.

``GET /api/v3/outposts/instances/`` with the outpost's token as Bearer lists exactly one outpost
(the token's service account sees only its own); ``GET /api/v3/outposts/proxy/?page=N&page_size=100``
lists its proxy providers until ``pagination.next`` is 0. The WebSocket that follows changes is at
``/ws/outpost/<outpost pk>/`` on the same host (authgate/outpost/follower.py).

Errors: ``OutpostTokenRefused`` for a token Authentik refuses, ``OutpostError`` for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from authgate import __version__
from authgate.errors import OutpostError, OutpostTokenRefused

PAGE_SIZE = 100
MAX_PAGES = 1000  # a paginator that never says "last page" must not loop for ever
#: Authentik's default refresh interval, and the least it allows (internal/outpost/ak).
DEFAULT_REFRESH = 300.0
MIN_REFRESH = 30.0
USER_AGENT = f"authgate/{__version__} (outpost)"
ADVICE = (
    "check AUTHENTIK_TOKEN: copy it again from Authentik (Applications, Outposts, the outpost's "
    "View deployment info); a token is refused once its outpost is deleted or the token rotated."
)


@dataclass(frozen=True, slots=True)
class Outpost:
    """The outpost this token belongs to."""

    pk: str
    name: str
    type: str
    refresh_interval_s: float

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Outpost:
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        raw = data.get("refresh_interval_s", (config or {}).get("refresh_interval_s", 0))
        try:
            interval = float(raw or 0)
        except (TypeError, ValueError):
            interval = 0.0
        interval = DEFAULT_REFRESH if interval <= 0 else max(interval, MIN_REFRESH)
        return cls(str(data.get("pk") or ""), str(data.get("name") or ""), str(data.get("type") or ""), interval)

    def to_json(self) -> dict[str, Any]:
        return {"pk": self.pk, "name": self.name, "type": self.type, "refresh_interval_s": self.refresh_interval_s}


class AuthentikAPI:
    """Authentik's API at ``host`` with the outpost's ``token``."""

    def __init__(
        self,
        host: str,
        token: str,
        *,
        insecure: bool = False,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.host = host.rstrip("/")
        self.token = token
        self.insecure = insecure
        self.http = httpx.AsyncClient(
            base_url=self.host,
            headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"},
            verify=not insecure,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = await self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise OutpostError(f"Authentik's API at {self.host} cannot be reached ({type(exc).__name__})") from exc
        if resp.status_code in (401, 403):
            raise OutpostTokenRefused(f"Authentik refused AUTHENTIK_TOKEN ({resp.status_code} on {path}): {ADVICE}")
        if resp.status_code >= 400:
            raise OutpostError(f"Authentik's API answered {resp.status_code} on {path}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise OutpostError(f"Authentik's API did not answer JSON on {path} (is AUTHENTIK_HOST right?)") from exc
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise OutpostError(f"Authentik's API answered no list of results on {path} (is AUTHENTIK_HOST right?)")
        return data

    async def outpost(self) -> Outpost:
        """The token's outpost; ``OutpostError`` unless it is a proxy outpost."""
        data = await self._get("/api/v3/outposts/instances/")
        results = [r for r in data["results"] if isinstance(r, dict)]
        if not results:
            raise OutpostError(f"the token sees no outpost: {ADVICE}")
        outpost = Outpost.from_api(results[0])
        if outpost.type != "proxy":
            raise OutpostError(
                f"outpost {outpost.name!r} is of type {outpost.type!r}: authgate serves proxy outposts. "
                "Create a Proxy outpost in Authentik and use its token."
            )
        return outpost

    async def providers(self) -> list[dict[str, Any]]:
        """Every proxy provider of the outpost, page after page (Authentik's ``ProxyOutpostConfig``)."""
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = await self._get("/api/v3/outposts/proxy/", {"page": page, "page_size": PAGE_SIZE})
            found += [r for r in data["results"] if isinstance(r, dict)]
            pagination = data.get("pagination")
            following = pagination.get("next") if isinstance(pagination, dict) else 0
            if not isinstance(following, int | float) or following <= 0:
                return found
        raise OutpostError(f"Authentik's API listed more than {MAX_PAGES} pages of providers")

    def websocket_url(self, outpost_pk: str, instance_uuid: str, attempt: int) -> str:
        """``ws(s)://<host>/ws/outpost/<pk>/?instance_uuid=...&attempt=N``, as the outpost dials it."""
        parts = urlsplit(self.host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path.rstrip('/')}/ws/outpost/{outpost_pk}/"
        query = urlencode({"instance_uuid": instance_uuid, "attempt": attempt})
        return urlunsplit((scheme, parts.netloc, path, query, ""))
