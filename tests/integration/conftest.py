"""A gateway reached directly (the test plays the proxy), with Redis so the store can be inspected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import Gateway, IdP, Redis, gateway_env, start_gateway, start_redis


@dataclass
class Direct:
    idp: IdP
    redis: Redis
    gateway: Gateway

    @property
    def origin(self) -> str:
        """The gateway as a browser on ``app.test`` reaches it (the test browser maps .test to loopback)."""
        return f"http://app.test:{self.gateway.port}"


@pytest.fixture(scope="module")
def direct(module_tmp: Path, idp: IdP) -> Iterator[Direct]:
    redis = start_redis(module_tmp, "redis-direct")
    gateway = start_gateway(module_tmp, gateway_env(idp.issuer, redis_url=redis.url, skip_auth="GET=^/public/"))
    yield Direct(idp, redis, gateway)
    gateway.proc.stop()
    redis.proc.stop()
