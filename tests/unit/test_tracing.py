"""OpenTelemetry spans (authgate/observability/tracing.py) in process, with the SDK's in-memory exporter: nothing when
off; store calls, refreshes and IdP calls as spans, parented on the proxy's ``traceparent``. The
real OTLP export runs in tests/integration/test_otlp.py."""

from __future__ import annotations

import logging
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from authgate.config import load_settings
from authgate.model import TokenSet
from authgate.observability import tracing
from authgate.session import refresh
from authgate.session import service as sessions
from authgate.session import timing as refresh_timing
from authgate.store import MemoryStore
from authgate.store.traced import TracedStore
from authgate.web.asgi import create_app
from tests.support.servers import TEST_SECRET

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SETTINGS = {
    # A closed port: every IdP call fails at once (connection refused), inside its span.
    "AUTHGATE_ISSUER": "http://127.0.0.1:9",
    "AUTHGATE_CLIENT_ID": "c",
    "AUTHGATE_CLIENT_SECRET": "s",
    "AUTHGATE_SECRET": TEST_SECRET,
}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup(exporter)
    yield exporter
    tracing.shutdown()


async def check(app: Any, cookie: str, *extra: tuple[bytes, bytes]) -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "path": "/outpost.goauthentik.io/auth/nginx",
        "scheme": "http",
        "client": ("127.0.0.1", 40000),
        "headers": [(b"x-original-url", b"https://app.test/page"), (b"cookie", cookie.encode()), *extra],
    }
    await app(scope, None, send)
    return sent[0]["status"], dict(sent[0]["headers"])


def test_off_it_is_one_shared_no_op_and_nothing_is_wrapped() -> None:
    assert not tracing.enabled()
    assert tracing.span("a") is tracing.span("b", x=1)
    app = create_app(load_settings(SETTINGS), store=MemoryStore())
    assert isinstance(app.gateway.store, MemoryStore)  # type: ignore[attr-defined]


async def test_store_calls_are_spans_parented_on_the_proxys_traceparent(spans: InMemorySpanExporter) -> None:
    app = create_app(load_settings(SETTINGS), store=MemoryStore())
    gw = app.gateway  # type: ignore[attr-defined]
    assert isinstance(gw.store, TracedStore)
    claims = {"sub": "u1", "preferred_username": "alice", "groups": []}
    ticket = await gw.sessions.create(TokenSet("at", "it", "rt", 3600, claims), scope="app.test")
    spans.clear()
    cookie = f"{gw.site.cookie_name}={gw.signer.dumps(ticket)}"
    status, _ = await check(app, cookie, (b"traceparent", f"00-{TRACE}-{PARENT}-01".encode()))
    assert status == 200
    (get,) = spans.get_finished_spans()
    assert get.name == "store GET" and get.attributes == {"db.operation.name": "GET"}
    assert get.parent is not None and f"{get.parent.span_id:016x}" == PARENT
    assert f"{get.context.trace_id:032x}" == TRACE


async def test_a_refresh_is_a_span_around_its_idp_call_and_failures_are_audited(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(load_settings(SETTINGS), store=MemoryStore())
    gw = app.gateway  # type: ignore[attr-defined]
    claims = {"sub": "u1", "preferred_username": "alice", "groups": []}
    ticket = await gw.sessions.create(TokenSet("at", "it", "rt", 60, claims), scope="app.test")
    # A minute later, for the sessions' clock only: the access token is due for a refresh.
    later = types.SimpleNamespace(time=lambda: time.time() + 60, monotonic=time.monotonic)
    for module in (sessions, refresh, refresh_timing):
        monkeypatch.setattr(module, "time", later)
    spans.clear()
    cookie = f"{gw.site.cookie_name}={gw.signer.dumps(ticket)}"
    with caplog.at_level(logging.INFO, logger="authgate.audit"):
        status, _ = await check(app, cookie)
    assert status == 200, "the IdP is down: the session is kept"
    finished = {s.name: s for s in spans.get_finished_spans()}
    refresh_span = finished["session.refresh"]
    idp = finished["idp GET /.well-known/openid-configuration"]
    assert idp.parent is not None and idp.parent.span_id == refresh_span.context.span_id
    assert idp.attributes is not None and idp.attributes["url.full"].startswith("http://127.0.0.1:9/")
    assert not idp.status.is_ok and idp.events[0].name == "exception"
    (failed,) = [r for r in caplog.records if r.getMessage() == "session.refresh_failed"]
    fields = failed.audit  # type: ignore[attr-defined]
    assert fields["user"] == "alice" and fields["sub"] == "u1" and fields["session_ended"] is False
    await gw.aclose()
