"""Hot reload of the rules file in a real authgate process (with Redis): SIGHUP, a change of the file,
and a bad file that keeps the rules in force and says so in /readyz and the metrics."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.procs import wait_for
from tests.support.servers import Gateway, IdP, gateway_env, start_gateway, start_redis

CHECK = "/outpost.goauthentik.io/auth/nginx"
# Two rules files of the same size: rewritten in place with the old modification time, the file
# watch cannot tell them apart, so only SIGHUP can be what loads the second.
DENY = '[[apps]]\nhost = "app.test"\nrules = [{ path = "^/x", policy = "deny"   }]\n'
PUBLIC = '[[apps]]\nhost = "app.test"\nrules = [{ path = "^/x", policy = "public" }]\n'
BAD = '[[apps]]\nhost = "app.test"\nrules = [{ path = "(", policy = "public" }]\nbogus = 1\n'


@dataclass
class Reloading:
    gateway: Gateway
    rules: Path

    def check(self, path: str = "/x") -> int:
        headers = {"X-Original-URL": f"http://app.test{path}", "X-Original-Method": "GET"}
        return httpx.get(self.gateway.url + CHECK, headers=headers, timeout=5).status_code

    def hup(self) -> None:
        assert self.gateway.proc.popen is not None
        os.kill(self.gateway.proc.popen.pid, signal.SIGHUP)

    def metric(self, name: str) -> float | None:
        for line in httpx.get(self.gateway.url + "/metrics", timeout=5).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


@pytest.fixture(scope="module")
def reloading(module_tmp: Path, idp: IdP) -> Iterator[Reloading]:
    redis = start_redis(module_tmp, "redis-reload")
    rules = module_tmp / "reload.toml"
    rules.write_text(DENY)
    gateway = start_gateway(module_tmp, gateway_env(idp.issuer, redis_url=redis.url, config=str(rules)))
    yield Reloading(gateway, rules)
    gateway.proc.stop()
    redis.proc.stop()


def rewrite_unseen(path: Path, text: str) -> None:
    """Rewrite ``path`` in place (same inode and size) and put its modification time back."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    with path.open("r+") as f:
        f.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_sighup_reloads_and_a_bad_file_keeps_the_rules_in_force(reloading: Reloading) -> None:
    assert reloading.check() == 403, "the deny rule at startup"
    assert reloading.check("/y") == 401
    rewrite_unseen(reloading.rules, PUBLIC)
    reloading.hup()
    wait_for(lambda: reloading.check() == 200, timeout=10, what="the public rule after SIGHUP")
    assert "rules reloaded (SIGHUP)" in reloading.gateway.proc.log_path.read_text()
    assert reloading.metric("authgate_rules_last_reload_success") == 1

    reloading.rules.write_text(BAD)
    reloading.hup()

    def refused() -> bool:
        return "rules" in httpx.get(reloading.gateway.url + "/readyz", timeout=5).json()

    wait_for(refused, timeout=10, what="/readyz to show the failed reload")
    ready = httpx.get(reloading.gateway.url + "/readyz", timeout=5)
    assert ready.status_code == 200, "the old rules still serve"
    detail = ready.json()["rules"]
    assert detail.startswith("rules reload failed: ")
    assert "apps[0].rules[0].path" in detail and "apps[0].bogus: unknown key" in detail
    assert reloading.check() == 200, "the rules in force stay"
    assert reloading.metric("authgate_rules_last_reload_success") == 0
    failed = reloading.metric('authgate_rules_reload_total{result="failed"}')
    assert failed is not None and failed >= 1
    log = reloading.gateway.proc.log_path.read_text()
    assert "failed, the rules in force stay: AUTHGATE_CONFIG=" in log and "apps[0].bogus" in log


def test_a_changed_file_is_picked_up_without_a_signal(reloading: Reloading) -> None:
    reloading.rules.write_text(PUBLIC)
    wait_for(lambda: reloading.check() == 200, timeout=10, what="the public rule")
    reloading.rules.write_text(DENY)
    wait_for(lambda: reloading.check() == 403, timeout=10, what="the deny rule, from the file watch")
    assert "rules reloaded (the file changed)" in reloading.gateway.proc.log_path.read_text()
    assert "rules" not in httpx.get(reloading.gateway.url + "/readyz", timeout=5).json()
