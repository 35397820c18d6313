"""AUTHGATE_BACKCHANNEL_URL against an IdP that, like Authentik, builds every URL it returns
and the ``iss`` of its tokens from the Host header, reachable at a public and an internal address.

Public: ``http://idp.test:<q>`` (a real nginx in front, with an access log); internal: the IdP's
own loopback port. authgate must send every server-to-server call to the internal address, and
the browser must only ever see the public one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.flows import echoed_headers
from tests.support.procs import Proc, free_port, require_binary, wait_for
from tests.support.servers import (
    Gateway,
    gateway_env,
    nginx_conf,
    nginx_server,
    start_echo,
    start_gateway,
    start_mock_idp,
    traefik_server,
)

pytestmark = pytest.mark.e2e


@dataclass
class Split:
    public_port: int
    internal_port: int
    gateway: Gateway
    echo_port: int
    access_log: Path
    tmp: Path

    @property
    def public_issuer(self) -> str:
        return f"http://idp.test:{self.public_port}"

    def public_requests(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


def _public_front(tmp: Path, port: int, internal: int) -> Proc:
    binary = require_binary("nginx", "/usr/sbin/nginx")
    d = tmp / "idp-front"
    http = f"""
    log_format ua '$request_method $request_uri "$http_user_agent"';
    access_log {d}/logs/access.log ua;
    server {{
        listen 127.0.0.1:{port};
        server_name idp.test;
        location / {{ proxy_pass http://127.0.0.1:{internal}; proxy_set_header Host $http_host; }}
    }}"""
    nginx_conf(d, http, connections=64)
    return Proc("idp-front", [binary, "-p", str(d), "-c", str(d / "nginx.conf")], log_dir=tmp).start()


@pytest.fixture(scope="module")
def split(module_tmp: Path) -> Iterator[Split]:
    idp = start_mock_idp(module_tmp)
    public_port = free_port()
    front = _public_front(module_tmp, public_port, idp.port).wait_port(public_port)
    env = gateway_env(f"http://idp.test:{public_port}", backchannel_url=f"http://127.0.0.1:{idp.port}")
    gateway = start_gateway(module_tmp, env)
    echo, echo_port = start_echo(module_tmp)
    yield Split(public_port, idp.port, gateway, echo_port, module_tmp / "idp-front/logs/access.log", module_tmp)
    for proc in (echo, gateway.proc, front, idp.proc):
        proc.stop()


def _sign_in(split: Split, url: str) -> None:
    before = len(split.public_requests())
    with Browser() as b:
        r = b.visit(url)
        assert r.status_code == 200, r.text[:300]
        assert echoed_headers(r)["x-authentik-username"] == "alice"
        seen = [str(h.request.url) for h in b.history]
    internal = f"127.0.0.1:{split.internal_port}"
    assert not any(internal in u for u in seen), "the browser was sent to the IdP's internal address"
    assert any(u.startswith(f"{split.public_issuer}/oauth2/authorize") for u in seen)
    public = split.public_requests()[before:]
    assert public, "the browser used the public address"
    assert not [line for line in public if '"authgate"' in line], f"server-to-server call went public: {public}"


def test_sign_in_through_nginx(split: Split) -> None:
    with nginx_server(split.tmp, gateway_url=split.gateway.url, app_port=split.echo_port) as port:
        _sign_in(split, f"http://app.test:{port}/bc")


def test_sign_in_through_traefik(split: Split) -> None:
    with traefik_server(split.tmp, gateway_url=split.gateway.url, app_port=split.echo_port) as port:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "app.test"}).status_code != 404,
            what="Traefik router",
        )
        _sign_in(split, f"http://app.test:{port}/bc")


def test_sign_in_through_caddy(split: Split) -> None:
    with caddy_server(split.tmp, gateway_url=split.gateway.url, app_port=split.echo_port) as port:
        _sign_in(split, f"http://app.test:{port}/bc")


def test_without_backchannel_the_problem_is_reported(split: Split) -> None:
    """The control: the public name does not resolve where authgate runs (as inside Docker)."""
    gateway = start_gateway(split.tmp, gateway_env(split.public_issuer))
    try:
        ready = httpx.get(f"{gateway.url}/readyz", timeout=20)
        assert ready.status_code == 503
        assert "cannot reach" in ready.json()["problems"]["idp"]
    finally:
        gateway.proc.stop()
