"""Claims and tokens in the shapes other certified IdPs send (LemonLDAP::NG among them): groups as a
string for one and a list for several, no ``sid`` in the ID token, refresh tokens that never rotate."""

from __future__ import annotations

from typing import Any

import pytest

from authgate.model import Identity, TokenSet
from authgate.session.service import SessionService
from authgate.store.memory import MemoryStore


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("earthlings", ("earthlings",)),
        (["timelords", "users"], ("timelords", "users")),
        ([], ()),
        ("", ()),
        (None, ()),
    ],
)
def test_groups_as_a_string_or_a_list(groups: Any, expected: tuple[str, ...]) -> None:
    assert Identity.from_claims({"sub": "dwho", "groups": groups}).groups == expected


class NonRotatingIdP:
    """Answers a refresh as LemonLDAP::NG does: a new access token, no new refresh token."""

    issuer = "https://auth.example.test/"
    client_id = "authgate"
    scopes = ("openid", "offline_access")

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def refresh(self, refresh_token: str, *, sub: str) -> TokenSet:
        self.seen.append(refresh_token)
        return TokenSet(f"at-{len(self.seen) + 1}", "", None, -10, {})


async def test_a_refresh_token_that_never_rotates_is_kept_and_used_again() -> None:
    idp = NonRotatingIdP()
    sessions = SessionService(MemoryStore(), idp, ttl=3600)  # type: ignore[arg-type]
    claims = {"sub": "dwho", "preferred_username": "dwho", "groups": "earthlings"}  # no sid
    ticket = await sessions.create(TokenSet("at-1", "id-1", "rt-1", -10, claims), scope="app.test")
    for round_no in (2, 3, 4):
        data = await sessions.load(ticket, use_cache=False)
        assert data is not None
        data = await sessions.refreshed_if_due(ticket, data)
        assert data is not None and data.access_token == f"at-{round_no}"
        assert data.refresh_token == "rt-1" and data.id_token == "id-1"
        assert data.idp_sid == "" and data.identity.groups == ("earthlings",)
    assert idp.seen == ["rt-1", "rt-1", "rt-1"]
