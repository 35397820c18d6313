"""The audit trail and request ids end to end: a real gateway writing JSON lines, behind real
nginx (the NPM snippet) and Traefik (deploy/traefik/dynamic.yml), with Redis and the node IdP
(which sends real back-channel logout tokens). Each step's lines are read from the gateway's log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.flows import PREFIX, echoed_headers
from tests.support.node_idp import NodeIdP, start_node_idp
from tests.support.procs import free_port, wait_for
from tests.support.servers import Gateway, gateway_env, nginx_server, start_echo, start_gateway, start_redis
from tests.support.servers import traefik_server as traefik

pytestmark = pytest.mark.e2e

CLIENT_ID, CLIENT_SECRET = "authgate-audit", "audit-secret-0123456789abcdef"
ACCESS_TTL = 4  # seconds: a session's token is due for a refresh 2 s after sign-in
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class World:
    gateway: Gateway
    idp: NodeIdP
    ports: dict[str, int]  # proxy name -> its port (admin.test and app.test on each)

    def lines(self) -> list[dict[str, Any]]:
        text = self.gateway.proc.log_path.read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def await_event(self, kind: str, **fields: object) -> dict[str, Any]:
        """The first audit line of ``kind`` with ``fields``, once the gateway has written it."""
        found: list[dict[str, Any]] = []

        def written() -> bool:
            found[:] = [
                e for e in self.lines() if e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())
            ]
            return bool(found)

        wait_for(written, timeout=10, what=f"audit line {kind} {fields}")
        return found[0]


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    redis = start_redis(module_tmp)
    echo, echo_port = start_echo(module_tmp)
    ports = {"nginx": free_port(), "traefik": free_port(), "traefik-admin": free_port()}
    gw_port = free_port()
    idp = start_node_idp(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://{h}:{p}{PREFIX}/callback" for p in ports.values() for h in ("app.test", "admin.test")],
        post_logout_redirect_uris=[f"http://{h}:{p}/" for p in ports.values() for h in ("app.test", "admin.test")],
        # Server to server, straight to the gateway (*.test is loopback for the IdP too).
        backchannel_logout_uri=f"http://authgate.test:{gw_port}{PREFIX}/backchannel_logout",
        access_ttl=ACCESS_TTL,
    )
    rules = module_tmp / "audit-apps.toml"
    rules.write_text('[[apps]]\nhost = "admin.test"\nallowed_groups = ["admins"]\n')
    env = gateway_env(
        idp.issuer,
        redis_url=redis.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        config=str(rules),
        log_format="json",
        replica_name="replica-a",
        log_allows="true",
        log_allows_sample="1",
    )
    gateway = start_gateway(module_tmp, env, name="authgate-audit", port=gw_port)
    url = gateway.url
    try:
        with (
            nginx_server(
                module_tmp, gateway_url=url, app_port=echo_port, server_name="app.test admin.test", port=ports["nginx"]
            ),
            traefik(module_tmp, gateway_url=url, app_port=echo_port, port=ports["traefik"]),
            traefik(module_tmp, gateway_url=url, app_port=echo_port, host="admin.test", port=ports["traefik-admin"]),
        ):
            for name, host in (("traefik", "app.test"), ("traefik-admin", "admin.test")):
                wait_for(
                    lambda p=ports[name], h=host: (
                        httpx.get(f"http://127.0.0.1:{p}/", headers={"Host": h}).status_code != 404
                    ),
                    what="Traefik routes",
                )
            yield World(gateway, idp, ports)
    finally:
        for proc in (gateway.proc, echo, redis.proc):
            proc.stop()
        idp.stop()


def origin(world: World, proxy: str, host: str = "app.test") -> str:
    port = world.ports["traefik-admin" if proxy == "traefik" and host == "admin.test" else proxy]
    return f"http://{host}:{port}"


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_a_sign_in_is_audited_and_the_proxys_request_id_comes_back(world: World, proxy: str) -> None:
    site = origin(world, proxy)
    rid = f"e2e-start-{proxy}"
    with Browser() as b:
        start = b.get(f"{site}{PREFIX}/start?rd={site}/signed-in", headers={"X-Request-Id": rid})
        assert start.status_code == 302 and start.headers["x-request-id"] == rid, "echoed through the proxy"
        r = b.follow(start)
        assert r.status_code == 200 and echoed_headers(r)["x-authentik-username"] == "alice"
    started = world.await_event("sign_in.started", request_id=rid)
    assert started["host"] == "app.test" and started["path"] == f"{PREFIX}/start" and started["method"] == "GET"
    assert started["client_ip"] == "127.0.0.1" and started["replica"] == "replica-a"
    assert started["logger"] == "authgate.audit" and started["ts"].endswith("Z")
    completed = world.await_event("sign_in.completed", host="app.test", user="alice")
    assert completed["sub"] == "alice" and completed["request_id"], "every line carries an id"
    # AUTHGATE_LOG_ALLOWS=true, AUTHGATE_LOG_ALLOWS_SAMPLE=1: the landing on the page is logged too.
    allowed = world.await_event("access.allowed", host="app.test", path="/signed-in")
    assert allowed["user"] == "alice" and allowed["client_ip"] == "127.0.0.1"


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_a_refusal_is_audited_with_its_rule_and_the_request_id(world: World, proxy: str) -> None:
    site = origin(world, proxy, "admin.test")
    rid = f"e2e-denied-{proxy}"
    with Browser() as b:
        assert b.visit(f"{site}/", sub="bob").status_code == 403
        r = b.get(f"{site}/secret?token=hidden", headers={"X-Request-Id": rid})
        assert r.status_code == 403
        if proxy == "traefik":  # Traefik hands authgate's answer to the client; nginx shows its own 403
            assert r.headers["x-request-id"] == rid
    denied = world.await_event("access.denied", request_id=rid)
    assert denied["user"] == "bob" and denied["sub"] == "bob" and denied["host"] == "admin.test"
    assert denied["path"] == "/secret", "no query string in the log (it may carry secrets)"
    assert denied["method"] == "GET" and denied["client_ip"] == "127.0.0.1" and denied["replica"] == "replica-a"
    assert denied["rule"] == "host admin.test (its allow-lists)"
    assert denied["reason"] == "only members of the group admins may open this application"


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_a_sign_out_is_audited(world: World, proxy: str) -> None:
    site = origin(world, proxy)
    rid = f"e2e-out-{proxy}"
    with Browser() as b:
        assert b.visit(f"{site}/").status_code == 200
        r = b.get(f"{site}{PREFIX}/sign_out", headers={"X-Request-Id": rid})
        assert r.status_code in (200, 302) and r.headers["x-request-id"] == rid
    out = world.await_event("session.signed_out", request_id=rid)
    assert out["user"] == "alice" and out["sub"] == "alice" and out["host"] == "app.test"
    assert out["path"] == f"{PREFIX}/sign_out"


def test_a_backchannel_logout_is_audited(world: World) -> None:
    with Browser() as b:
        assert b.visit(f"{origin(world, 'nginx')}/", sub="bob").status_code == 200
    before = len([e for e in world.lines() if e.get("event") == "session.backchannel_logout"])
    result = world.idp.backchannel_logout(sub="bob")
    assert result["notified"] and all(n["ok"] for n in result["notified"]), result
    wait_for(
        lambda: len([e for e in world.lines() if e.get("event") == "session.backchannel_logout"]) > before,
        timeout=10,
        what="the back-channel logout's audit line",
    )
    line = [e for e in world.lines() if e.get("event") == "session.backchannel_logout"][-1]
    assert line["sub"] == "bob" and line["sessions"] >= 1 and line["request_id"] and line["method"] == "POST"


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_an_unauthenticated_check_takes_the_trace_id_and_hostile_ids_are_replaced(world: World, proxy: str) -> None:
    site = origin(world, proxy)
    with Browser() as b:
        r = b.get(f"{site}/traced", headers={"traceparent": TRACEPARENT})
        assert r.status_code == 302
    kind = "access.unauthenticated" if proxy == "nginx" else "sign_in.started"
    line = world.await_event(kind, request_id="4bf92f3577b34da6a3ce929d0e0e4736")
    assert line["path"] == "/traced"
    hostile = "x" * 200
    with Browser() as b:
        r = b.get(f"{site}{PREFIX}/start?rd={site}/", headers={"X-Request-Id": hostile})
    made = r.headers["x-request-id"]
    assert made != hostile and 0 < len(made) <= 128 and made.isascii()
    assert hostile not in world.gateway.proc.log_path.read_text(), "never logged raw"


def test_a_refresh_is_audited(world: World) -> None:
    with Browser() as b:
        assert b.visit(f"{origin(world, 'nginx')}/", sub="bob").status_code == 200
        before = len([e for e in world.lines() if e.get("event") == "session.refreshed"])

        def refreshed() -> bool:
            # Each visit is a check; the one after the token falls due refreshes it (no sleep).
            assert b.get(f"{origin(world, 'nginx')}/later").status_code == 200
            return len([e for e in world.lines() if e.get("event") == "session.refreshed"]) > before

        wait_for(refreshed, timeout=15, what="a refresh")
    line = [e for e in world.lines() if e.get("event") == "session.refreshed"][-1]
    assert line["user"] == "bob" and line["sub"] == "bob" and line["request_id"] and line["replica"] == "replica-a"


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_a_client_cannot_choose_the_address_in_its_audit_lines(world: World, proxy: str) -> None:
    rid = f"e2e-xff-{proxy}"
    forged = {"X-Forwarded-For": "198.51.100.66", "X-Request-Id": rid, "Accept": "application/json"}
    with Browser() as b:
        r = b.get(f"{origin(world, proxy)}/api", headers={**forged, "Sec-Fetch-Mode": "cors"})
        assert r.status_code == (302 if proxy == "nginx" else 401)  # nginx turns the 401 into its sign-in redirect
    line = world.await_event("access.unauthenticated", request_id=rid)
    assert line["client_ip"] == "127.0.0.1", "the address the proxy saw, not the one the client wrote"
