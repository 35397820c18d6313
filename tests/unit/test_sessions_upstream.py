"""Sessions keep the ak_proxy headers and entitlements: set at sign-in, replaced by a refresh that
carries the claims again, kept by one that does not; what was left out is logged once, by name."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest

from authgate.access.upstream import BasicAuth
from authgate.model import TokenSet
from authgate.session.service import SessionService
from authgate.store.memory import MemoryStore

BASIC = BasicAuth("app_username", "app_password")


def claims(headers: dict[str, Any], **more: Any) -> dict[str, Any]:
    proxy = {"user_attributes": {"additionalHeaders": headers, "app_password": "pw"}}
    return {"sub": "alice", "email": "alice@corp.test", "ak_proxy": proxy, **more}


class FakeIdP:
    issuer, client_id = "https://idp.test", "authgate"  # its lane (authgate.oidc.clients.lane)
    scopes = ("openid",)

    def __init__(self) -> None:
        self.next_claims: dict[str, Any] = {}

    async def refresh(self, refresh_token: str, *, sub: str) -> TokenSet:
        return TokenSet("at-2", "it-2", "rt-2", 3600, dict(self.next_claims))


def run(idp: FakeIdP, first: dict[str, Any], then: dict[str, Any]) -> tuple[Any, Any]:
    async def go() -> tuple[Any, Any]:
        sessions = SessionService(MemoryStore(), idp, ttl=3600, basic_auth=BASIC)  # type: ignore[arg-type]
        # An access token that expired 10 s ago: the first check refreshes it.
        ticket = await sessions.create(TokenSet("at", "it", "rt", -10, first), scope="app.test")
        created = await sessions.load(ticket, use_cache=False)
        assert created is not None
        idp.next_claims = then
        refreshed = await sessions.refreshed_if_due(ticket, created)
        assert refreshed is not None and refreshed.access_token == "at-2"
        return created, refreshed

    return asyncio.run(go())


def test_sign_in_stores_the_checked_headers_and_entitlements() -> None:
    created, _ = run(FakeIdP(), claims({"X-Wiki-User": "a", "Host": "evil.test"}, entitlements=["r"]), {})
    auth = "Basic " + base64.b64encode(b"alice@corp.test:pw").decode()
    assert created.upstream == (("Authorization", auth), ("X-Wiki-User", "a"))
    assert created.identity.entitlements == ("r",)


def test_a_refresh_with_the_claims_replaces_them_one_without_keeps_them() -> None:
    first = claims({"X-Wiki-User": "a"}, entitlements=["r"])
    _, refreshed = run(FakeIdP(), first, claims({"X-Wiki-User": "b"}, entitlements=["w"]))
    assert ("X-Wiki-User", "b") in refreshed.upstream and refreshed.identity.entitlements == ("w",)
    _, kept = run(FakeIdP(), first, {"sub": "alice", "name": "Alice"})
    assert ("X-Wiki-User", "a") in kept.upstream and kept.identity.entitlements == ("r",)
    assert kept.identity.name == "Alice"


def test_left_out_headers_are_logged_once_by_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "authgate.sessions")
    hostile = claims({"Host": "evil.test", "X-A": "a\r\nX-B: secret-value"})
    run(FakeIdP(), hostile, hostile)  # sign-in and refresh: the same refusals, said once
    lines = [r.getMessage() for r in caplog.records]
    assert sum("'Host' left out" in line for line in lines) == 1
    assert sum("'X-A' left out" in line for line in lines) == 1
    assert not [line for line in lines if "evil.test" in line or "secret-value" in line]
