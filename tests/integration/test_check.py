"""`authgate check` against real IdPs: each fault found, named with its fix, and the exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.node_idp import start_node_idp
from tests.support.procs import free_port
from tests.support.servers import ROOT, IdP, gateway_env, start_redis

SCOPES = "openid email profile"  # what the mock IdP lists


def run_check(env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "check"],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_good_configuration_passes(tmp_path: Path, idp: IdP) -> None:
    redis = start_redis(tmp_path)
    try:
        code, out = run_check(gateway_env(idp.issuer, redis_url=redis.url, scopes=SCOPES))
    finally:
        redis.proc.stop()
    assert code == 0, out
    assert "FAIL" not in out
    assert "client 'authgate-test' accepted" in out
    assert "Redis reachable" in out


def test_issuer_with_a_trailing_slash_is_named_with_the_exact_value(idp: IdP) -> None:
    code, out = run_check(gateway_env(idp.issuer + "/", scopes=SCOPES))
    assert code == 1
    assert "issuer mismatch" in out
    assert f"set AUTHGATE_ISSUER={idp.issuer} (the trailing slash must match exactly)" in out


def test_unreachable_idp_and_backchannel(idp: IdP) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, out = run_check(gateway_env(dead, scopes=SCOPES))
    assert code == 1
    assert "IdP not usable at the public issuer" in out and "AUTHGATE_BACKCHANNEL_URL" in out
    code, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, backchannel_url=dead))
    assert code == 1
    assert f"IdP not usable through the back-channel address {dead}" in out


def test_weak_secret_and_uncovered_cookie_domain_are_reported_together(idp: IdP) -> None:
    env = gateway_env(
        idp.issuer, scopes=SCOPES, secret="short", cookie_domain="example.test", external_url="https://auth.other.test"
    )
    code, out = run_check(env)
    assert code == 1
    assert "AUTHGATE_SECRET key #1 is weak" in out
    assert "does not cover AUTHGATE_EXTERNAL_URL" in out


def test_a_scope_the_idp_does_not_list_is_a_warning(idp: IdP) -> None:
    code, out = run_check(gateway_env(idp.issuer, scopes=f"{SCOPES} entitlements ak_proxy"))
    assert code == 0, out
    assert "AUTHGATE_SCOPES asks for 'entitlements', which the IdP does not list" in out
    assert "AUTHGATE_SCOPES asks for 'ak_proxy', which the IdP does not list" in out
    assert "'email', which" not in out


def test_offline_access_not_offered_is_a_failure(idp: IdP) -> None:
    code, out = run_check(gateway_env(idp.issuer))  # default scopes ask for offline_access
    assert code == 1
    assert "offline_access" in out and "fix:" in out


def test_wrong_client_secret_and_unregistered_redirect_uri(tmp_path: Path) -> None:
    node = start_node_idp(
        tmp_path,
        client_id="checked",
        client_secret="right-secret-000000000000",
        redirect_uris=["https://auth.example.test/outpost.goauthentik.io/callback"],
    )
    try:
        base = {"client_id": "checked", "cookie_domain": "example.test"}
        code, out = run_check(
            gateway_env(
                node.issuer, client_secret="right-secret-000000000000", external_url="https://auth.example.test", **base
            )
        )
        assert code == 0, out
        assert "client 'checked' accepted" in out and "PKCE S256 supported" in out
        assert "redirect URI https://auth.example.test/outpost.goauthentik.io/callback accepted" in out
        code, out = run_check(
            gateway_env(
                node.issuer,
                client_secret="wrong-secret-00000000000000",
                external_url="https://auth.example.test",
                **base,
            )
        )
        assert code == 1
        assert "refused the client credentials (invalid_client)" in out
        code, out = run_check(
            gateway_env(
                node.issuer,
                client_secret="right-secret-000000000000",
                external_url="https://login.example.test",
                **base,
            )
        )
        assert code == 1
        assert "refuses the redirect URI https://login.example.test/outpost.goauthentik.io/callback" in out
    finally:
        node.stop()


def test_email_rules_say_they_need_verified_addresses(idp: IdP) -> None:
    code, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, allowed_email_domains="corp.test"))
    assert "WARN email-domain rules admit only addresses the IdP marks email_verified: true" in out
    assert "AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true" in out
    assert code == 0, "a warning, not a failure"


def test_the_idle_timeout_needs_a_redis_that_runs_getex(tmp_path: Path, idp: IdP) -> None:
    """A Redis older than 6.2 has no GETEX (here: one with the command disabled, as it would answer)."""
    good = start_redis(tmp_path, "redis-getex")
    old = start_redis(tmp_path, "redis-old", "--rename-command", "GETEX", "")
    try:
        code, out = run_check(gateway_env(idp.issuer, redis_url=good.url, scopes=SCOPES, session_idle_ttl="1800"))
        assert code == 0 and "OK   Redis runs GETEX" in out, out
        code, out = run_check(gateway_env(idp.issuer, redis_url=old.url, scopes=SCOPES, session_idle_ttl="1800"))
        assert code == 1, out
        assert "FAIL Redis refuses GETEX" in out and "upgrade Redis to 6.2 or newer" in out, out
        code, out = run_check(gateway_env(idp.issuer, redis_url=old.url, scopes=SCOPES))
        assert code == 0 and "GETEX" not in out, out  # without an idle timeout, GETEX is never used
    finally:
        good.proc.stop()
        old.proc.stop()


def test_a_pattern_re2_cannot_take_is_named_with_its_rule_and_the_fix(tmp_path: Path, idp: IdP) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[apps]]\nhost = "app.test"\nrules = [{ path = "^/(?!public/)", groups = ["ops"] }]\n')
    code, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, config=str(rules), skip_auth="(a)\\1"))
    assert code == 1
    assert "apps[0].rules[0].path (host app.test rule 1): '^/(?!public/)' is not RE2 syntax" in out
    assert "RE2 has no lookahead" in out
    assert "AUTHGATE_SKIP_AUTH: '(a)" in out and "RE2 has no backreferences" in out
