"""One stack per module: Redis, the mock IdP, an authgate replica with per-app rules, an echo app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import Gateway, IdP, Redis, gateway_env, start_echo, start_gateway, start_redis


@dataclass
class Stack:
    idp: IdP
    redis: Redis
    gateway: Gateway
    echo_port: int
    tmp: Path


@pytest.fixture(scope="module")
def stack(module_tmp: Path, idp: IdP) -> Iterator[Stack]:
    redis = start_redis(module_tmp)
    rules = module_tmp / "apps.toml"
    rules.write_text('[[apps]]\nhost = "admin.test"\nallowed_groups = ["admins"]\n')
    env = gateway_env(idp.issuer, redis_url=redis.url, config=str(rules), header_sets="authentik,oauth2-proxy")
    gateway = start_gateway(module_tmp, env)
    echo, echo_port = start_echo(module_tmp)
    yield Stack(idp, redis, gateway, echo_port, module_tmp)
    for proc in (echo, gateway.proc, redis.proc):
        proc.stop()
