"""Discovery: the IdP's provider metadata, typed, and whether the IdP answers right now.

Both are shared by every request of the process and guarded against being multiplied: metadata
is re-read hourly (a failed first read is not retried for ``METADATA_RETRY`` seconds), and the
reachability probe before a sign-in is shared for ``PROBE_REUSE`` seconds, since anyone can
start sign-ins.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from authgate.errors import IdPUnavailable, IssuerMismatch
from authgate.oidc.transport import call

METADATA_RETRY = 2.0  # after a failed discovery, fail fast for this long instead of hammering the IdP
METADATA_TTL = 3600.0  # re-read the metadata this often (endpoints and keys can change)
PROBE_TIMEOUT = 3.0
PROBE_REUSE = 5.0  # a successful reachability probe is trusted this long: sign-in starts cannot hammer the IdP


def _strings(value: object) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What authgate reads of the discovery document (OpenID Connect Discovery 1.0).

    The ``*_supported`` lists are None when the IdP does not advertise them.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    id_token_signing_alg_values_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    code_challenge_methods_supported: tuple[str, ...] | None = None
    scopes_supported: tuple[str, ...] | None = None
    grant_types_supported: tuple[str, ...] | None = None
    backchannel_logout_supported: bool | None = None
    frontchannel_logout_supported: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], *, issuer: str) -> ProviderMetadata:
        """Validate a discovery document for ``issuer``: ``IssuerMismatch`` / ``IdPUnavailable``."""
        if data.get("issuer") != issuer:
            raise IssuerMismatch(str(data.get("issuer")), issuer)
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(name), str):
                raise IdPUnavailable(f"discovery: the IdP's metadata has no {name}")

        def url(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) else None

        return cls(
            issuer=issuer,
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            jwks_uri=data["jwks_uri"],
            userinfo_endpoint=url("userinfo_endpoint"),
            end_session_endpoint=url("end_session_endpoint"),
            id_token_signing_alg_values_supported=_strings(data.get("id_token_signing_alg_values_supported")),
            token_endpoint_auth_methods_supported=_strings(data.get("token_endpoint_auth_methods_supported")),
            code_challenge_methods_supported=_strings(data.get("code_challenge_methods_supported")),
            scopes_supported=_strings(data.get("scopes_supported")),
            grant_types_supported=_strings(data.get("grant_types_supported")),
            backchannel_logout_supported=_flag(data.get("backchannel_logout_supported")),
            frontchannel_logout_supported=_flag(data.get("frontchannel_logout_supported")),
            raw=data,
        )


class Discovery:
    """The metadata of one issuer, read through ``http`` (which may route to a back-channel address)."""

    def __init__(self, issuer: str, http: httpx.AsyncClient) -> None:
        self.issuer = issuer
        self.http = http
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._metadata_failed_at = 0.0
        self._metadata_error: IdPUnavailable | None = None
        self._metadata_lock = asyncio.Lock()
        self._probe_ok_at: float | None = None
        self._probe_failure: str | None = None
        self._probe_failed_at = 0.0
        self._probe_lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def unreachable(self) -> None:
        """A call to the IdP failed: the next sign-in start looks again before sending a browser."""
        self._probe_ok_at = None

    async def get_json(self, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = await self.http.get(url, extensions=call(what), **kwargs)
        except httpx.HTTPError as exc:
            self.unreachable()
            raise IdPUnavailable(f"{what}: cannot reach {url} ({type(exc).__name__})") from exc
        if resp.status_code >= 400:
            raise IdPUnavailable(f"{what}: {url} answered {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise IdPUnavailable(f"{what}: {url} did not answer JSON") from exc
        if not isinstance(data, dict):
            raise IdPUnavailable(f"{what}: {url} did not answer a JSON object")
        return data

    async def metadata(self) -> ProviderMetadata:
        """The provider metadata: fetched once, re-read every ``METADATA_TTL`` (keeping the old copy
        if that fails), and after a failed first fetch not retried for ``METADATA_RETRY`` seconds."""
        now = time.monotonic()
        if self._metadata is not None and now - self._metadata_at < METADATA_TTL:
            return self._metadata
        async with self._metadata_lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
                return self._metadata
            if self._metadata_error is not None and time.monotonic() - self._metadata_failed_at < METADATA_RETRY:
                raise self._metadata_error
            try:
                meta = ProviderMetadata.from_json(await self.get_json(self.url, "discovery"), issuer=self.issuer)
            except IdPUnavailable as exc:
                if self._metadata is not None:
                    return self._metadata  # a stale copy beats none; retried on the next call
                self._metadata_error, self._metadata_failed_at = exc, time.monotonic()
                raise
            self._metadata, self._metadata_at, self._metadata_error = meta, time.monotonic(), None
            return meta

    async def ensure_reachable(self) -> None:
        """Raise ``IdPUnavailable`` unless the IdP answered recently: checked before a browser is sent
        there, so a dead IdP gets our retry page rather than the browser's error.

        Anyone can start sign-ins, so a probe is shared: a success is trusted for ``PROBE_REUSE``
        seconds, a failure repeated for ``METADATA_RETRY`` seconds, and concurrent callers wait for
        the one probe in flight; sign-in starts never turn into more than one request at a time."""
        await self.metadata()
        if self._recent_probe():
            return
        async with self._probe_lock:
            if self._recent_probe():
                return
            try:
                await self._probe()
            except IdPUnavailable as exc:
                self._probe_failure, self._probe_failed_at = str(exc), time.monotonic()
                raise
            self._probe_ok_at, self._probe_failure = time.monotonic(), None

    def _recent_probe(self) -> bool:
        """True after a recent successful probe; raises after a recent failed one; False when a
        new probe is due."""
        now = time.monotonic()
        if self._probe_failure is not None and now - self._probe_failed_at < METADATA_RETRY:
            # A new exception each time: re-raising one instance would grow its traceback per caller.
            raise IdPUnavailable(self._probe_failure)
        return self._probe_ok_at is not None and now - self._probe_ok_at < PROBE_REUSE

    async def _probe(self) -> None:
        try:
            resp = await self.http.get(self.url, timeout=PROBE_TIMEOUT, extensions=call("probe"))
        except httpx.HTTPError as exc:
            raise IdPUnavailable(f"the IdP cannot be reached ({type(exc).__name__})") from exc
        if resp.status_code >= 500:
            raise IdPUnavailable(f"the IdP answered {resp.status_code}")
