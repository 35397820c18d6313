"""The auth check's hot path in process (in-memory store, no servers): what is memoised, and
that a sign-out still ends it. The real thing runs in tests/integration and tests/e2e."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from authgate.config import load_settings
from authgate.model import TokenSet
from authgate.observability import metrics
from authgate.session.cookies import MAX_COOKIE_HEADER, MAX_TICKETS
from authgate.store import MemoryStore
from authgate.web import parse as parse_module
from authgate.web.asgi import create_app
from authgate.web.auth import WANTED_HEADERS
from authgate.web.parse import Check
from authgate.web.raw import NO_STORE, Reply, request_headers
from authgate.wiring.gateway import Gateway
from tests.support.servers import TEST_SECRET

PATH = "/outpost.goauthentik.io/auth/nginx"


@pytest.fixture
async def app() -> AsyncIterator[Any]:
    settings = load_settings(
        {
            "AUTHGATE_ISSUER": "http://idp.test",
            "AUTHGATE_CLIENT_ID": "c",
            "AUTHGATE_CLIENT_SECRET": "s",
            "AUTHGATE_SECRET": TEST_SECRET,
        }
    )
    application = create_app(settings, store=MemoryStore())
    feed = asyncio.create_task(application.gateway.sessions.run_invalidation())
    await asyncio.sleep(0)
    assert application.gateway.sessions.cache.enabled
    yield application
    feed.cancel()


async def sign_in(gw: Gateway) -> tuple[str, str]:
    claims = {"sub": "u1", "preferred_username": "alice", "email": "alice@corp.test", "groups": ["admins"]}
    ticket = await gw.sessions.create(TokenSet("at", "it", "rt", 3600, claims), scope="app.test")
    return ticket.session_id, f"{gw.site.cookie_name}={gw.signer.dumps(ticket)}"


async def check(
    app: Any, cookie: str, url: bytes = b"https://app.test/page", *extra: tuple[bytes, bytes]
) -> tuple[int, dict[bytes, bytes], list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "path": PATH,
        "scheme": "http",
        "client": ("127.0.0.1", 40000),
        "headers": [(b"x-original-url", url), (b"cookie", cookie.encode()), *extra],
    }
    await app(scope, None, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent


def test_request_headers_first_wins_cookies_join_others_are_skipped() -> None:
    scope = {
        "headers": [
            (b"x-original-url", b"https://app.test/first"),
            (b"cookie", b"a=1"),
            (b"user-agent", b"never decoded"),
            (b"x-original-url", b"https://evil.test/second"),
            (b"cookie", b"b=2"),
            (b"host", b"caf\xe9.test"),
        ]
    }
    assert request_headers(scope, WANTED_HEADERS) == {
        "x-original-url": "https://app.test/first",
        "cookie": "a=1; b=2",
        "host": "café.test",
    }


def test_wire_headers_frame_the_body() -> None:
    extra = [(b"x-authentik-username", b"alice")]
    assert Reply(200, extra).wire == ((b"content-length", b"0"), NO_STORE, *extra)
    page = Reply(403, body=b"<p>no</p>", content_type=b"text/html")
    assert page.wire == ((b"content-type", b"text/html"), (b"content-length", b"9"), NO_STORE)


async def test_tickets_are_remembered_per_cookie_header_and_forgeries_are_not_tickets(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    value = cookie.split("=", 1)[1]
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert gw.cookies.tickets(f"{gw.site.cookie_name}={forged}") == ()
    both = gw.cookies.tickets(f"{gw.site.cookie_name}={forged}; {cookie}")
    assert len(both) == 1
    assert gw.cookies.tickets(f"{gw.site.cookie_name}={forged}; {cookie}") is both
    huge = f"tracking={'x' * 5000}; {cookie}"  # too long to remember, still read
    assert gw.cookies.tickets(huge) == both and gw.cookies.tickets(huge) is not gw.cookies.tickets(huge)


async def test_a_repeat_check_sends_the_one_memoised_reply(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    status, headers, first = await check(app, cookie)
    assert status == 200 and headers[b"x-authentik-username"] == b"alice"
    assert headers[b"x-auth-request-email"] == b"alice@corp.test"
    _, _, second = await check(app, cookie)
    assert second[0]["headers"] is first[0]["headers"], "built once per session, not per request"


async def test_a_sign_out_ends_the_cached_answer_at_once(app: Any) -> None:
    gw: Gateway = app.gateway
    session_id, cookie = await sign_in(gw)
    assert (await check(app, cookie))[0] == 200
    assert gw.sessions.cached(gw.cookies.tickets(cookie)[0]) is not None
    await gw.sessions.delete(session_id)
    assert (await check(app, cookie))[0] == 401


async def test_the_app_gets_the_cookie_header_without_ours_memoised_per_header(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    header = f"theme=dark; {cookie}; {gw.site.cookie_name}_login_0123456789abcdef=x; lang=en"
    status, headers, first = await check(app, header)
    assert status == 200 and headers[b"cookie"] == b"theme=dark; lang=en"
    _, _, second = await check(app, header)
    assert second[0]["headers"] is first[0]["headers"]
    assert b"cookie" not in (await check(app, cookie))[1], "nothing left: the proxy drops the header"


async def test_the_clients_authorization_is_handed_back_memoised_per_header(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    bearer = (b"authorization", b"Bearer app-token")
    status, headers, first = await check(app, f"theme=dark; {cookie}", b"https://app.test/page", bearer)
    assert status == 200 and headers[b"authorization"] == b"Bearer app-token"
    assert headers[b"cookie"] == b"theme=dark"
    _, _, second = await check(app, f"theme=dark; {cookie}", b"https://app.test/page", bearer)
    assert second[0]["headers"] is first[0]["headers"]
    _, other, _ = await check(app, f"theme=dark; {cookie}", b"https://app.test/page", (b"authorization", b"Basic x"))
    assert other[b"authorization"] == b"Basic x", "another header, another answer"
    assert b"authorization" not in (await check(app, cookie))[1]


async def test_authgate_owns_authorization_when_it_sends_basic_credentials() -> None:
    settings = load_settings(
        {
            "AUTHGATE_ISSUER": "http://idp.test",
            "AUTHGATE_CLIENT_ID": "c",
            "AUTHGATE_CLIENT_SECRET": "s",
            "AUTHGATE_SECRET": TEST_SECRET,
            "AUTHGATE_SKIP_AUTH": "^/public/",
            "AUTHGATE_AUTHENTIK_BASIC_AUTH_PASSWORD_ATTRIBUTE": "app_password",
        }
    )
    app = create_app(settings, store=MemoryStore())
    gw: Gateway = app.gateway
    forged = (b"authorization", b"Basic cm9vdDpyb290")
    for proxy_claims, expected in (
        ({"ak_proxy": {"user_attributes": {"app_password": "pw"}}}, b"Basic YWxpY2VAY29ycC50ZXN0OnB3"),
        ({}, None),
    ):
        claims = {"sub": "u1", "email": "alice@corp.test", **proxy_claims}
        ticket = await gw.sessions.create(TokenSet("at", "it", "rt", 3600, claims), scope="app.test")
        _, headers, _ = await check(
            app, f"{gw.site.cookie_name}={gw.signer.dumps(ticket)}", b"https://app.test/", forged
        )
        assert headers.get(b"authorization") == expected
    _, headers, _ = await check(app, "", b"https://app.test/public/x", forged)
    assert b"authorization" not in headers, "a public path gets none either"


async def test_a_session_opens_only_the_host_it_was_signed_in_on(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)  # signed in on app.test
    assert (await check(app, cookie, b"https://app.test:8443/x"))[0] == 200
    assert (await check(app, cookie, b"https://other.test/x"))[0] == 401
    assert (await check(app, cookie, b"https://sub.app.test/x"))[0] == 401


async def test_a_flood_of_forged_cookies_is_not_each_verified(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gw: Gateway = app.gateway
    calls = []
    real = gw.signer.loads
    monkeypatch.setattr(gw.signer, "loads", lambda value: calls.append(value) or real(value))
    few = "; ".join(f"{gw.site.cookie_name}=forged{i}.a.b" for i in range(500))
    assert (await check(app, few))[0] == 401
    assert len(calls) == MAX_TICKETS, "only the first few values are verified"
    calls.clear()
    flood = few + "; " + "x" * MAX_COOKIE_HEADER
    assert (await check(app, flood))[0] == 401
    assert calls == [], "a Cookie header no browser sends is not searched at all"


async def test_a_lookalike_of_an_identity_header_is_refused(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    for name in (
        b"x-authentik_username",
        b"x_auth_request_user",
        b"remote_groups",
        b"x.authentik.username",
        b"remote.user",
    ):
        status = (await check(app, cookie, b"https://app.test/page", (name, b"root")))[0]
        assert status == 403, name  # nginx's route: 403, since nginx turns other statuses into 500


async def test_the_auth_route_itself_is_never_answered_with_identity_headers(app: Any) -> None:
    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    for path in (b"/outpost.goauthentik.io/auth/nginx", b"/outpost.goauthentik.io/auth/traefik?x=1"):
        status, headers, _ = await check(app, cookie, b"https://app.test" + path)
        assert status == 403 and b"x-authentik-username" not in headers, path


async def test_cache_hits_and_misses_are_counted_once_per_check(app: Any) -> None:
    gw: Gateway = app.gateway
    lookups = metrics.cache_lookups
    session_id, cookie = await sign_in(gw)
    hits, misses = lookups.hits, lookups.misses
    assert (await check(app, cookie))[0] == 200  # read from the store (a miss), cached
    assert (lookups.hits, lookups.misses) == (hits, misses + 1)
    assert (await check(app, cookie))[0] == 200
    assert (await check(app, cookie))[0] == 200
    assert (lookups.hits, lookups.misses) == (hits + 2, misses + 1)
    await gw.sessions.delete(session_id)
    assert (await check(app, cookie))[0] == 401  # evicted: read from the store, found gone
    assert (lookups.hits, lookups.misses) == (hits + 2, misses + 2)
    assert (await check(app, ""))[0] == 401  # no session cookie: no lookup at all
    assert (lookups.hits, lookups.misses) == (hits + 2, misses + 2)


@pytest.mark.parametrize("header_auth", ["", "bearer,basic"])
async def test_a_session_comes_first_and_header_auth_is_read_only_when_on(header_auth: str) -> None:
    settings = load_settings(
        {
            "AUTHGATE_ISSUER": "http://idp.test",
            "AUTHGATE_CLIENT_ID": "c",
            "AUTHGATE_CLIENT_SECRET": "s",
            "AUTHGATE_SECRET": TEST_SECRET,
            "AUTHGATE_HEADER_AUTH": header_auth,
        }
    )
    application = create_app(settings, store=MemoryStore())
    gw = application.gateway
    assert (gw.header_auth is not None) is bool(header_auth)
    _, cookie = await sign_in(gw)
    bearer = (b"authorization", b"Bearer opaque-garbage")
    # A signed-in browser that also sends Authorization (to an app using it) passes on its session.
    status, headers, _ = await check(application, cookie, b"https://app.test/page", bearer)
    assert (status, headers[b"x-authentik-username"]) == (200, b"alice")
    # Without a session: header auth on answers the header (401 with a challenge, never a redirect);
    # off, the request is checked as any other (401 from nginx's check, no challenge).
    status, headers, _ = await check(application, "", b"https://app.test/page", bearer)
    assert status == 401
    challenge = b'Bearer realm="authgate", error="invalid_token"'
    assert headers.get(b"www-authenticate") == (challenge if header_auth else None)


async def test_rules_decide_in_the_check_and_a_network_rule_reads_the_address_every_time(app: Any) -> None:
    from authgate.access.policy import Policy
    from authgate.config import Settings

    gw: Gateway = app.gateway
    _, cookie = await sign_in(gw)
    rules = [{"path": "^/closed", "policy": "deny"}, {"path": "^/office", "networks": ["10.0.0.0/8"]}]
    gw.swap_policy(Policy.from_settings(Settings(apps=[{"host": "app.test", "rules": rules}])))
    status, _, sent = await check(app, cookie, b"https://app.test/closed/x")
    assert status == 403 and sent[1]["body"] == b"access denied by host app.test rule 1 (path ^/closed)\n"
    office = b"https://app.test/office"
    assert (await check(app, cookie, office, (b"x-forwarded-for", b"10.0.0.5")))[0] == 200
    # The same cached session from another address: the 200 kept on the cache entry is not reused.
    status, _, sent = await check(app, cookie, office, (b"x-forwarded-for", b"192.0.2.1"))
    assert status == 403 and b"192.0.2.1" in sent[1]["body"] and b"not in a network" in sent[1]["body"]
    assert b"rule 2" not in sent[1]["body"], "the rule's name is for the log, not the page"
    assert (await check(app, cookie, office))[0] == 403, "no X-Forwarded-For: the peer, 127.0.0.1, is outside"
    assert (await check(app, cookie, b"https://app.test/page", (b"x-forwarded-for", b"not an address")))[0] == 200
    gw.swap_policy(Policy.from_settings(Settings()))
    assert (await check(app, cookie, b"https://app.test/closed/x"))[0] == 200, "the swapped policy decides at once"


def test_the_check_is_built_with_each_value_in_its_own_field() -> None:
    """``Check`` is built positionally on the hot path (keywords cost a little on every check), and
    several of its fields share a type: a reordered field or argument would still type-check and
    hand, say, the client's address to ``authorization``. Each positional argument must name its
    field (``view.forward`` for ``forward``), or be a literal."""
    fields = [f.name for f in dataclasses.fields(Check)]
    tree = ast.parse(Path(parse_module.__file__).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Check"]
    assert calls, "no Check(...) in authgate/web/parse.py"
    for call in calls:
        assert len(call.args) == len(fields), ast.unparse(call)
        for field, arg in zip(fields, call.args, strict=True):
            name = arg.attr if isinstance(arg, ast.Attribute) else getattr(arg, "id", None)
            assert name == field or isinstance(arg, ast.Constant), f"{ast.unparse(arg)} given as {field}"
