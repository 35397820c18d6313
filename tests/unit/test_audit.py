"""The auth check's audit lines and request ids in process (in-memory store, no servers): what a
cached allow writes (nothing, unless sampled), what a refusal writes, which answers carry the id.
The real thing, through nginx and Traefik, runs in tests/e2e/test_audit.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from authgate.config import load_settings
from authgate.model import TokenSet
from authgate.store import MemoryStore
from authgate.web.asgi import create_app
from tests.support.servers import TEST_SECRET

PATH = "/outpost.goauthentik.io/auth/nginx"
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def make_app(**extra: str) -> Any:
    env = {
        "AUTHGATE_ISSUER": "http://127.0.0.1:9",
        "AUTHGATE_CLIENT_ID": "c",
        "AUTHGATE_CLIENT_SECRET": "s",
        "AUTHGATE_SECRET": TEST_SECRET,
        "AUTHGATE_ALLOWED_GROUPS": "admins",
        **{f"AUTHGATE_{k.upper()}": v for k, v in extra.items()},
    }
    return create_app(load_settings(env), store=MemoryStore())


async def cookie_of(app: Any, groups: list[str]) -> str:
    gw = app.gateway
    claims = {"sub": "u1", "preferred_username": "alice", "groups": groups}
    ticket = await gw.sessions.create(TokenSet("at", "it", "rt", 3600, claims), scope="app.test")
    return f"{gw.site.cookie_name}={gw.signer.dumps(ticket)}"


async def check(
    app: Any,
    cookie: str,
    *extra: tuple[bytes, bytes],
    peer: str = "127.0.0.1",
    url: bytes = b"https://app.test/page?secret=1",
) -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"x-original-url", url), (b"cookie", cookie.encode()), *extra]
    scope = {"type": "http", "path": PATH, "scheme": "http", "client": (peer, 40000), "headers": headers}
    await app(scope, None, send)
    return sent[0]["status"], dict(sent[0]["headers"])


def events(caplog: pytest.LogCaptureFixture, kind: str) -> list[dict[str, Any]]:
    return [r.audit for r in caplog.records if r.name == "authgate.audit" and r.getMessage() == kind]  # type: ignore[attr-defined]


async def test_a_cached_allow_writes_nothing_and_carries_no_id(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    cookie = await cookie_of(app, ["admins"])
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            status, headers = await check(app, cookie, (b"x-request-id", b"abc"))
            assert status == 200 and b"x-request-id" not in headers
    assert not [r for r in caplog.records if r.name == "authgate.audit"]


async def test_allows_are_sampled_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(log_allows="true", log_allows_sample="2")
    cookie = await cookie_of(app, ["admins"])
    with caplog.at_level(logging.INFO, logger="authgate.audit"):
        for _ in range(6):
            assert (await check(app, cookie, (b"x-forwarded-for", b"198.51.100.4")))[0] == 200
    allowed = events(caplog, "access.allowed")
    assert len(allowed) == 3, "one in two"
    assert allowed[0] == {
        "host": "app.test",
        "path": "/page",
        "method": "",
        "client_ip": "198.51.100.4",
        "user": "alice",
        "sub": "u1",
    }


async def test_a_refusal_is_audited_with_its_rule_and_answers_the_proxys_id(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    cookie = await cookie_of(app, ["guests"])
    with caplog.at_level(logging.INFO, logger="authgate.audit"):
        for _ in range(2):  # from the store, then from the cache: both refused, both audited
            status, headers = await check(app, cookie, (b"x-request-id", b"proxy-7"))
            assert status == 403 and headers[b"x-request-id"] == b"proxy-7"
    denied = events(caplog, "access.denied")
    assert len(denied) == 2 and denied[0]["user"] == "alice" and denied[0]["path"] == "/page"
    assert denied[0]["reason"] == "only members of the group admins may open this application"
    assert denied[0]["rule"] == "the global rule (AUTHGATE_ALLOWED_*)"


async def test_unauthenticated_and_untrusted_checks_are_audited_with_a_made_or_traced_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    with caplog.at_level(logging.INFO, logger="authgate.audit"):
        status, headers = await check(app, "", (b"traceparent", TRACEPARENT))
        assert status == 401 and headers[b"x-request-id"] == b"4bf92f3577b34da6a3ce929d0e0e4736"
        status, headers = await check(app, "", (b"x-request-id", b"bad id\x7f"), peer="203.0.113.9")
        assert status == 403
        made = headers[b"x-request-id"]
        assert made != b"bad id\x7f" and made.isascii() and b" " not in made
    assert events(caplog, "access.unauthenticated")[0]["client_ip"] == "127.0.0.1"
    (refused,) = events(caplog, "access.refused")
    assert refused == {"client_ip": "203.0.113.9", "reason": "the caller is not in AUTHGATE_TRUSTED_PROXIES"}


async def test_an_audit_line_has_the_path_the_rules_saw_and_the_path_as_sent(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    cookie = await cookie_of(app, ["guests"])
    with caplog.at_level(logging.INFO, logger="authgate.audit"):
        assert (await check(app, cookie, url=b"https://app.test//pa%67e;x?secret=1"))[0] == 403
        assert (await check(app, cookie))[0] == 403
    ambiguous, plain = events(caplog, "access.denied")
    assert (ambiguous["path"], ambiguous["raw_path"]) == ("/page", "//pa%67e;x"), "no query string in either"
    assert plain["path"] == "/page" and "raw_path" not in plain, "as sent only when it differs"
