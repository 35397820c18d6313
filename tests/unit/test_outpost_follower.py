"""What the follower does with each WebSocket message from Authentik, hostile ones included, and the
sealed list it keeps in the store. Authentik's side is not involved: no message here reaches the API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from authgate.outpost.api import AuthentikAPI
from authgate.outpost.follower import CACHE_KEY, SESSION_END, Follower
from authgate.outpost.providers import Provider
from authgate.store import MemoryStore

SECRET = "k" * 43


def follower(ended: list[str], applied: list[list[Provider]], store: MemoryStore | None = None) -> Follower:
    async def end(sid: str) -> int:
        ended.append(sid)
        return 1

    api = AuthentikAPI("http://authentik.invalid", "token")
    return Follower(api, store or MemoryStore(), [SECRET], lambda p, _: applied.append(p), end, reload_offset=0)


# message -> the sids it ends (none: ignored without error)
MESSAGES: list[tuple[str | bytes, list[str]]] = [
    (json.dumps({"instruction": SESSION_END, "args": {"type": "event.session.end", "session_id": "s1"}}), ["s1"]),
    (json.dumps({"instruction": SESSION_END, "args": {}}), []),  # no session id: nothing ends
    (json.dumps({"instruction": SESSION_END, "args": {"session_id": ""}}), []),
    (json.dumps({"instruction": SESSION_END, "args": ["s1"]}), []),  # args not an object
    (json.dumps({"instruction": 0, "args": {}}), []),  # ACK
    (json.dumps({"instruction": 3, "args": {"session_id": "s1"}}), []),  # provider-specific, not a logout
    # The proxy provider's own logout (authentik/providers/proxy/tasks.py), as some releases send it:
    (
        json.dumps(
            {"instruction": 3, "args": {"type": "event.provider.specific", "sub_type": "logout", "session_id": "s2"}}
        ),
        ["s2"],
    ),
    (json.dumps({"instruction": 3, "args": {"sub_type": "logout", "session_id": ""}}), []),
    (json.dumps({"instruction": 3, "args": {"sub_type": "other", "session_id": "s2"}}), []),
    (json.dumps({"instruction": "four"}), []),  # not a number
    (json.dumps([1, 2]), []),  # not an object
    ("not json", []),
    (b"\xff\xfe", []),  # not UTF-8
]


@pytest.mark.parametrize(("message", "ends"), MESSAGES)
def test_each_message_ends_only_what_it_names(message: str | bytes, ends: list[str]) -> None:
    ended: list[str] = []
    f = follower(ended, [])

    async def run() -> None:
        await f._on_message(message)
        await f.api.aclose()

    asyncio.run(run())
    assert ended == ends


def test_the_cached_list_is_sealed_and_opens_on_another_replica() -> None:
    store = MemoryStore()
    raw: dict[str, Any] = {
        "pk": 1,
        "name": "Grafana",
        "external_host": "https://grafana.example.com",
        "client_id": "cid",
        "client_secret": "the-client-secret",
        "oidc_configuration": {"issuer": "https://auth.example.com/application/o/grafana/"},
        "mode": "forward_single",
    }
    one = follower([], [], store)

    async def run() -> tuple[bytes | None, bool, list[list[Provider]], bool]:
        from authgate.outpost.api import Outpost

        one.read_at = 1.0
        await one._save(Outpost("pk", "o", "proxy", 300.0), [raw])
        applied: list[list[Provider]] = []
        other = follower([], applied, store)
        opened = await other.load_cached()
        stranger = Follower(other.api, store, ["z" * 43], lambda p, n: None, other.end_sessions)
        refused = await stranger.load_cached()
        await one.api.aclose()
        await other.api.aclose()
        return await store.get(CACHE_KEY), opened, applied, refused

    blob, opened, applied, refused = asyncio.run(run())
    assert blob is not None and b"the-client-secret" not in blob
    assert opened and [p.host for p in applied[0]] == ["grafana.example.com"]
    assert not refused, "another AUTHGATE_SECRET cannot open it"
