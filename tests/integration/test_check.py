"""`authgate check` against real IdPs: each fault found, named with its fix, and the exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.node_idp import start_node_idp
from tests.support.procs import free_port
from tests.support.servers import ROOT, IdP, gateway_env, run_check, start_redis

SCOPES = "openid email profile"  # what the mock IdP lists


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
    fails = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert len(fails) == 1, f"one failure, said once: {fails}"
    assert out.count("fix: check AUTHGATE_ISSUER") == 1, "with one fix"
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


def test_offline_access_left_out_of_discovery_is_a_warning_when_refresh_tokens_are_offered(idp: IdP) -> None:
    """The mock IdP, like LemonLDAP::NG, lists no offline_access scope but the refresh_token grant:
    discovery may leave scopes out, so that is no failure, and no claim of "no refresh tokens"."""
    code, out = run_check(gateway_env(idp.issuer))  # default scopes ask for offline_access
    assert code == 0, out
    assert "WARN AUTHGATE_SCOPES asks for offline_access, which the IdP does not list" in out
    assert "but it offers the refresh_token grant" in out
    assert "no refresh tokens" not in out
    # How authgate asks, and what that means at a strict IdP.
    assert "authgate asks without prompt=consent (AUTHGATE_PROMPT)" in out
    code, out = run_check(gateway_env(idp.issuer, prompt="consent"))
    assert code == 0, out
    assert "authgate asks without prompt=consent" not in out


def test_no_logout_channel_with_offline_access_is_a_warning(idp: IdP) -> None:
    """The mock IdP offers neither back- nor front-channel logout: a sign-out at the IdP cannot reach
    sessions that outlive it through their refresh token."""
    code, out = run_check(gateway_env(idp.issuer))
    assert code == 0, out
    assert "WARN the IdP advertises neither back-channel nor front-channel logout" in out
    _, out = run_check(gateway_env(idp.issuer, scopes=SCOPES))  # no offline_access: sessions follow the IdP's
    assert "neither back-channel nor front-channel" not in out


def test_check_names_the_addresses_to_register(idp: IdP) -> None:
    env = gateway_env(idp.issuer, scopes=SCOPES, cookie_domain="example.test", external_url="https://auth.example.test")
    _, out = run_check(env)
    back = "comes back to https://auth.example.test/outpost.goauthentik.io/signed_out: register it as a post-logout"
    assert back in out
    _, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, header_auth="bearer"))
    assert "AUTHGATE_HEADER_AUTH=bearer accepts JWT access tokens only" in out


def test_an_unknown_prompt_value_is_refused(idp: IdP) -> None:
    code, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, prompt="none"))
    assert code == 1
    assert "AUTHGATE_PROMPT" in out and "unknown prompt value(s) none" in out


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


def test_a_redis_url_without_a_scheme_fails_validation_in_check_and_serve() -> None:
    env = gateway_env("", redis_url="localhost:6379", scopes=SCOPES)
    code, out = run_check(env)
    assert code == 1, out
    assert "Did you mean redis://localhost:6379/0?" in out
    assert "AUTHGATE_ISSUER is not set" in out, "with the other problems"
    assert "Traceback" not in out
    serve = subprocess.run(
        [sys.executable, "-m", "authgate", "serve", "--port", str(free_port())],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 2
    assert "Did you mean redis://localhost:6379/0?" in serve.stderr and "Traceback" not in serve.stderr


def test_each_probe_is_printed_even_when_a_later_one_fails(idp: IdP) -> None:
    """An option redis-py refuses passes the settings' shape check and fails as the store opens:
    the IdP's findings come first, the store's failure after them, and no traceback."""
    code, out = run_check(
        gateway_env(idp.issuer, redis_url="redis://127.0.0.1:6379/0?socket_timeout=abc", scopes=SCOPES)
    )
    assert code == 1, out
    assert "Traceback" not in out
    lines = out.splitlines()
    idp_ok = lines.index(f"OK   IdP reachable at its public issuer {idp.issuer}")
    store = next(i for i, line in enumerate(lines) if line.startswith("FAIL AUTHGATE_REDIS_URL cannot be used"))
    assert idp_ok < store
    assert "socket_timeout" in lines[store]
    assert lines[-1] == "authgate check: FAILED"


def test_no_client_secret_is_a_failure_when_the_idp_wants_client_authentication(idp: IdP) -> None:
    """The mock IdP answers a made-up code with invalid_grant whatever the secret: only its metadata
    (token_endpoint_auth_methods_supported) tells that a secret is needed."""
    code, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, client_secret=""))
    assert code == 1, out
    assert "FAIL AUTHGATE_CLIENT_SECRET is not set, but the IdP's token endpoint wants client authentication" in out
    assert "client_secret_basic" in out
    assert "accepted by the IdP" not in out
    assert "all good" not in out


def test_no_client_secret_with_an_idp_that_allows_public_clients_is_probed(tmp_path: Path) -> None:
    """oidc-provider lists `none` among its token endpoint's methods: a public client could work, so
    check warns and probes; this client is confidential, and only a confirmed acceptance would pass."""
    node = start_node_idp(
        tmp_path,
        client_id="checked",
        client_secret="right-secret-000000000000",
        redirect_uris=["https://auth.example.test/outpost.goauthentik.io/callback"],
    )
    try:
        code, out = run_check(gateway_env(node.issuer, client_id="checked", client_secret=""))
    finally:
        node.stop()
    assert code == 1, out
    assert "WARN AUTHGATE_CLIENT_SECRET is not set: this works only if the IdP's client is public" in out
    # oidc-provider refuses the empty Basic credentials as malformed (invalid_request), not invalid_client.
    assert "FAIL without a client secret, the IdP answered a made-up code with 'invalid_request'" in out
    assert "all good" not in out


def test_a_pattern_re2_cannot_take_is_named_with_its_rule_and_the_fix(tmp_path: Path, idp: IdP) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[apps]]\nhost = "app.test"\nrules = [{ path = "^/(?!public/)", groups = ["ops"] }]\n')
    code, out = run_check(gateway_env(idp.issuer, scopes=SCOPES, config=str(rules), skip_auth="(a)\\1"))
    assert code == 1
    assert "apps[0].rules[0].path (host app.test rule 1): '^/(?!public/)' is not RE2 syntax" in out
    assert "RE2 has no lookahead" in out
    assert "AUTHGATE_SKIP_AUTH: '(a)" in out and "RE2 has no backreferences" in out
