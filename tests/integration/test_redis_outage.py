"""Redis killed and restarted under a running gateway."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie, sign_in_direct
from tests.support.procs import wait_for
from tests.support.servers import IdP, gateway_env, start_gateway, start_redis


def test_redis_down_fails_closed_and_service_resumes_with_sessions_intact(tmp_path: Path, idp: IdP) -> None:
    redis = start_redis(tmp_path, "redis-aof", "--appendonly", "yes", "--appendfsync", "always")
    gateway = start_gateway(tmp_path, gateway_env(idp.issuer, redis_url=redis.url, store_timeout="0.5"))
    origin = f"http://app.test:{gateway.port}"
    try:
        with Browser() as b:
            sign_in_direct(b, origin)
            cookie = session_cookie(b)

        def check(**headers: str) -> httpx.Response:
            return httpx.get(
                f"{gateway.url}{PREFIX}/auth/nginx",
                headers={"X-Original-URL": f"{origin}/", "Cookie": cookie, **headers},
                timeout=5,
            )

        assert check().status_code == 200
        redis.proc.kill(signal.SIGKILL)
        # The local cache stops answering as soon as its invalidation feed drops (bounded wait).
        wait_for(lambda: check().status_code != 200, timeout=5, what="the gateway to notice")
        for _ in range(5):
            r = check()
            assert r.status_code == 503, "must fail closed: never 200, never a sign-in loop"
        r = httpx.get(
            f"{gateway.url}{PREFIX}/auth/traefik",
            timeout=5,
            headers={"X-Forwarded-Host": "app.test", "X-Forwarded-Uri": "/", "Accept": "text/html", "Cookie": cookie},
        )
        assert r.status_code == 503
        ready = httpx.get(f"{gateway.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert "store" in ready.json()["problems"]

        redis.restart()
        wait_for(lambda: check().status_code == 200, timeout=15, what="the gateway to serve again")
        assert check().headers["x-authentik-username"] == "alice"
        assert httpx.get(f"{gateway.url}/readyz", timeout=10).status_code == 200
    finally:
        gateway.proc.stop()
        redis.proc.stop()
