"""Following Authentik as its outpost does: read the providers, re-read them when told, say hello.

- At start: the last list any replica read (sealed in the store), then Authentik's, retried with
  back-off until it answers; a replica that starts while Authentik is down serves the cached list.
- The WebSocket ``/ws/outpost/<pk>/`` (Bearer token, ``instance_uuid``, ``attempt``): ``Hello``
  on connect and every ``HELLO_INTERVAL`` (what Authentik's outpost page lists, one line per
  replica); ``TriggerUpdate`` re-reads the providers after this replica's own 0-9 s offset (so
  replicas do not all ask at once); ``SessionEnd``, and the proxy provider's own ``logout`` message
  (``ProviderSpecific``, which Authentik releases send instead or as well), end the sessions of that
  ``sid``. Reconnects
  with a back-off doubling from 1 s up to 300 s, as the outpost does.
- Every ``refresh_interval_s`` (300 s by default, at least 30 s) the providers are read again.

Instruction codes and Hello fields are Authentik's (authentik/outposts/consumer.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import platform
import random
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from websockets.asyncio.client import connect

from authgate import __version__
from authgate.errors import AuthgateError, OutpostError, StoreError
from authgate.observability import metrics
from authgate.outpost.api import AuthentikAPI, Outpost
from authgate.outpost.providers import Provider
from authgate.session.sealing import seal, unseal
from authgate.store import Store

log = logging.getLogger("authgate.outpost")

ACK, HELLO, TRIGGER_UPDATE, PROVIDER_SPECIFIC, SESSION_END = 0, 1, 2, 3, 4
HELLO_INTERVAL = 10.0
MAX_BACKOFF = 300.0
CACHE_KEY = "ag:outpost:providers"
CACHE_TTL = 30 * 24 * 3600.0
CACHE_INFO = b"authgate.outpost-cache.v1"
BUILD_HASH = f"authgate-{__version__}"


def _ends_a_session(instruction: int, args: Any) -> bool:
    """``SessionEnd``, or the proxy provider's ``ProviderSpecific`` ``logout``, naming a session id."""
    if not isinstance(args, dict) or not args.get("session_id"):
        return False
    return instruction == SESSION_END or (instruction == PROVIDER_SPECIFIC and args.get("sub_type") == "logout")


def cache_key_of(secret: str) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=CACHE_INFO).derive(secret.encode())


class Follower:
    """The providers this replica serves, kept in step with Authentik. ``apply`` receives each new
    list, with the outpost's name; ``end_sessions(sid)`` ends an Authentik session's sessions."""

    def __init__(
        self,
        api: AuthentikAPI,
        store: Store,
        secrets: Sequence[str],
        apply: Callable[[list[Provider], str], None],
        end_sessions: Callable[[str], Awaitable[int]],
        *,
        reload_offset: float | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self._keys = [cache_key_of(s) for s in secrets]
        self.apply = apply
        self.end_sessions = end_sessions
        self.instance_uuid = str(uuid.uuid4())
        # The outpost's "HA reload offset": one random whole second 0-9 per instance.
        self.reload_offset = float(random.randrange(10)) if reload_offset is None else reload_offset  # noqa: S311
        self.outpost: Outpost | None = None
        self.providers: list[Provider] | None = None
        self._name = ""  # the outpost's name the list in force was applied with
        self.read_at = 0.0  # wall clock of the list in force (Authentik's read, or the cache's)
        self.error = ""  # why the last read failed ("" when it did not)
        self.connected = False
        self._backoff = 1.0
        self._pending: set[asyncio.Future[bool]] = set()  # re-reads scheduled by TriggerUpdate
        self._reading = asyncio.Lock()
        metrics.outpost_age.set_function(self.age)

    def age(self) -> float:
        """Seconds since the list in force was read from Authentik (-1 before any)."""
        return time.time() - self.read_at if self.read_at else -1.0

    # -- reading --------------------------------------------------------------------------------

    async def refresh(self, why: str) -> bool:
        """Read the outpost and its providers; apply and cache them. False (and ``error``) on failure.
        One read at a time: a slow read must not land after, and undo, a newer one."""
        async with self._reading:
            return await self._refresh(why)

    async def _refresh(self, why: str) -> bool:
        try:
            outpost = await self.api.outpost()
            raw = await self.api.providers()
        except OutpostError as exc:
            self.error = str(exc)
            metrics.outpost_reads.labels("failed").inc()
            log.error("reading the providers from Authentik failed (%s): %s", why, exc)
            return False
        self.outpost = outpost
        self._use(_parse(raw), time.time())
        self.error = ""
        metrics.outpost_reads.labels("ok").inc()
        await self._save(outpost, raw)
        return True

    def _use(self, providers: list[Provider], read_at: float) -> None:
        name = self.outpost.name if self.outpost is not None else ""
        changed = (self.providers, self._name) != (providers, name)
        self.providers, self._name, self.read_at = providers, name, read_at
        if changed:
            self.apply(providers, name)
            served = sum(p.served for p in providers)
            metrics.outpost_providers.labels("served").set(served)
            metrics.outpost_providers.labels("not_served").set(len(providers) - served)
            log.info(
                "providers in force: %s",
                ", ".join(f"{p.name} ({p.host}, {p.mode})" for p in providers) or "none",
            )

    async def _save(self, outpost: Outpost, raw: list[dict[str, Any]]) -> None:
        """The list for replicas that start while Authentik cannot be read; sealed: it holds client secrets."""
        blob = seal(self._keys[0], CACHE_KEY, {"t": self.read_at, "o": outpost.to_json(), "p": raw})
        try:
            await self.store.set(CACHE_KEY, blob, CACHE_TTL)
        except StoreError as exc:
            log.warning("the providers could not be cached in the store: %s", exc)

    async def load_cached(self) -> bool:
        """The last list any replica read, if there is one and it opens with our secret."""
        try:
            blob = await self.store.get(CACHE_KEY)
        except StoreError as exc:
            log.warning("the cached providers could not be read: %s", exc)
            return False
        data = next((d for k in self._keys if blob and (d := unseal(k, CACHE_KEY, blob)) is not None), None)
        if data is None:
            return False
        if self.outpost is None:
            self.outpost = Outpost.from_api(data.get("o") or {})
        self._use(_parse(data.get("p") or []), float(data.get("t") or 0))
        log.warning("serving the providers cached %.0f s ago until Authentik answers", self.age())
        return True

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: the first read (cache, then Authentik with back-off), then the
        WebSocket and the interval re-read side by side."""
        if not await self.refresh("start"):
            await self.load_cached()
            delay = 1.0
            while not await self.refresh("retry"):
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        await asyncio.gather(self._interval(), self._follow())

    async def _interval(self) -> None:
        while True:
            await asyncio.sleep(self.outpost.refresh_interval_s if self.outpost else 300.0)
            await self.refresh("interval")

    async def _follow(self) -> None:
        attempt = 1
        while True:
            try:
                await self._session(attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the socket means: reconnect
                log.warning("the WebSocket to Authentik failed: %s; again in %.0f s", exc, self._backoff)
            self._set_connected(False)
            attempt += 1
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    async def _session(self, attempt: int) -> None:
        if self.outpost is None or not self.outpost.pk:
            await self.refresh("reconnect")
            if self.outpost is None:
                raise OutpostError("the outpost is not known yet")
        url = self.api.websocket_url(self.outpost.pk, self.instance_uuid, attempt)
        tls = None
        if url.startswith("wss:") and self.api.insecure:
            tls = ssl.create_default_context()
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        headers = {"Authorization": f"Bearer {self.api.token}"}
        async with connect(url, additional_headers=headers, ssl=tls, open_timeout=10, user_agent_header=None) as ws:
            await ws.send(json.dumps({"instruction": HELLO, "args": self.hello()}))
            self._set_connected(True)
            self._backoff = 1.0
            log.info("following Authentik's outpost %r over its WebSocket", self.outpost.name)
            if attempt > 1:  # a TriggerUpdate sent while the socket was down is lost: read again
                await self.refresh("reconnected")
            hello = asyncio.create_task(self._hellos(ws))
            try:
                async for message in ws:
                    await self._on_message(message)
            finally:
                hello.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hello

    async def _hellos(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(HELLO_INTERVAL)
            await ws.send(json.dumps({"instruction": HELLO, "args": self.hello()}))

    def hello(self) -> dict[str, Any]:
        """What Authentik's outpost page shows of this replica. ``buildHash`` is authgate's own, so
        Authentik never takes authgate's version for an outdated outpost of its own."""
        return {
            "version": __version__,
            "buildHash": BUILD_HASH,
            "uuid": self.instance_uuid,
            "hostname": socket.gethostname(),
            "golangVersion": f"python {platform.python_version()}",
            "opensslEnabled": False,
            "opensslVersion": "",
            "fipsEnabled": False,
        }

    async def _on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
            instruction, args = int(data.get("instruction", -1)), data.get("args") or {}
        except (ValueError, TypeError, AttributeError):
            log.warning("a WebSocket message from Authentik could not be read; ignored")
            return
        if instruction == TRIGGER_UPDATE:
            asyncio.get_running_loop().call_later(self.reload_offset, self._reread)
        elif _ends_a_session(instruction, args):
            try:
                ended = await self.end_sessions(str(args["session_id"]))
            except AuthgateError as exc:
                log.error("SessionEnd from Authentik could not end its sessions: %s", exc)
                return
            metrics.outpost_session_ends.inc()
            log.info("SessionEnd from Authentik: %d session(s) ended", ended)

    def _reread(self) -> None:
        task = asyncio.ensure_future(self.refresh("TriggerUpdate"))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _set_connected(self, live: bool) -> None:
        self.connected = live
        metrics.outpost_connected.set(1 if live else 0)


def _parse(raw: list[dict[str, Any]]) -> list[Provider]:
    out: list[Provider] = []
    for entry in raw:
        try:
            out.append(Provider.from_api(entry))
        except (ValueError, TypeError) as exc:
            log.warning("provider %r left out: %s", entry.get("name"), exc)
    return out
