"""Fixtures: each test gets its own real servers on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import IdP, Redis, start_mock_idp, start_redis


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    r = start_redis(tmp_path)
    yield r
    r.proc.stop()


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("module")


@pytest.fixture(scope="module")
def idp(module_tmp: Path) -> Iterator[IdP]:
    server = start_mock_idp(module_tmp)
    yield server
    server.proc.stop()
