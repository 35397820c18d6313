"""Two gateway replicas on Redis Sentinel and on Redis Cluster: sign in on one, use the session
on the other, sign out everywhere (a session's keys share one hash slot)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie, sign_in_direct
from tests.support.redis_topologies import (
    Topology,
    redis_cluster_fixture,  # noqa: F401 - the fixture redis_cluster
    redis_sentinel_fixture,  # noqa: F401 - the fixture redis_sentinel
)
from tests.support.servers import IdP, gateway_env, start_gateway


@pytest.mark.parametrize("topology", ["redis_sentinel", "redis_cluster"])
def test_two_replicas_share_sessions(topology: str, request: pytest.FixtureRequest, tmp_path: Path, idp: IdP) -> None:
    topo: Topology = request.getfixturevalue(topology)
    env = gateway_env(idp.issuer, redis_url=topo.url)
    first, second = start_gateway(tmp_path, env, name="first"), start_gateway(tmp_path, env, name="second")
    try:
        origin = f"http://app.test:{first.port}"
        with Browser() as b:
            sign_in_direct(b, origin)
            cookie = session_cookie(b)

        def check(gw_url: str) -> httpx.Response:
            return httpx.get(
                f"{gw_url}{PREFIX}/auth/nginx", timeout=10, headers={"X-Original-URL": f"{origin}/", "Cookie": cookie}
            )

        for gw in (first, second, first, second):
            r = check(gw.url)
            assert r.status_code == 200, (topology, r.status_code)
            assert r.headers["x-authentik-username"] == "alice"
        ready = httpx.get(f"{second.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        out = httpx.get(f"{second.url}{PREFIX}/sign_out", headers={"Cookie": cookie, "Host": "app.test"})
        assert out.status_code == 302
        assert [check(gw.url).status_code for gw in (first, second)] == [401, 401]
    finally:
        first.proc.stop()
        second.proc.stop()
