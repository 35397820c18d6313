"""OpenTelemetry export for real: a gateway process with OTEL_EXPORTER_OTLP_ENDPOINT set sends its
spans over OTLP/HTTP to a receiver in this test (decoding ``ExportTraceServiceRequest``), for a
sign-in through real nginx, with Redis and the IdP; the sign-in's first span is parented on the
``traceparent`` the test sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.browser import Browser
from tests.support.flows import PREFIX, echoed_headers
from tests.support.procs import free_port, wait_for
from tests.support.servers import IdP, gateway_env, nginx_server, start_echo, start_gateway, start_redis

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint: every span it was sent, with its service name."""

    port: int
    spans: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def named(self, name: str) -> list[Any]:
        with self.lock:
            return [s for _, s in self.spans if s.name == name]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    port = free_port()
    got = Receiver(port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert self.path == "/v1/traces", self.path
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            with got.lock:
                for resource_spans in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        got.spans += [(attrs.get("service.name", ""), s) for s in scope_spans.spans]
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()
    server.server_close()


def test_a_sign_in_through_nginx_is_traced_on_the_proxys_traceparent(
    module_tmp: Path, idp: IdP, receiver: Receiver
) -> None:
    redis = start_redis(module_tmp, "redis-otlp")
    echo, echo_port = start_echo(module_tmp)
    env = gateway_env(idp.issuer, redis_url=redis.url)
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_SERVICE_NAME": "authgate-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: spans leave within a tenth of a second
    }
    gateway = start_gateway(module_tmp, env, name="authgate-otlp")
    try:
        with nginx_server(module_tmp, gateway_url=gateway.url, app_port=echo_port) as port:
            site = f"http://app.test:{port}"
            with Browser() as b:
                traceparent = {"traceparent": f"00-{TRACE}-{PARENT}-01"}
                start = b.get(f"{site}{PREFIX}/start?rd={site}/traced", headers=traceparent)
                assert start.status_code == 302
                r = b.follow(start)
                assert r.status_code == 200 and echoed_headers(r)["x-authentik-username"] == "alice"
            wait_for(lambda: receiver.named("sign_in.callback"), timeout=15, what="the callback's span")
    finally:
        for proc in (gateway.proc, echo, redis.proc):
            proc.stop()

    (start_span,) = receiver.named("sign_in.start")
    assert start_span.trace_id.hex() == TRACE and start_span.parent_span_id.hex() == PARENT
    idp_calls = [s for _, s in receiver.spans if s.name.startswith("idp ")]
    for call in idp_calls:
        attributes = {a.key: a.value for a in call.attributes}
        assert attributes["url.full"].string_value.startswith(idp.issuer), "the IdP's URL, without a query"
        assert attributes["http.response.status_code"].int_value == 200
    (callback,) = receiver.named("sign_in.callback")
    children = {s.name for _, s in receiver.spans if s.parent_span_id == callback.span_id}
    assert "idp POST /oauth2/token" in children, children  # the code redeemed (oidc-provider-mock's path)
    assert {"store GETDEL", "store SET"} & children, children
    assert {service for service, _ in receiver.spans} == {"authgate-test"}
