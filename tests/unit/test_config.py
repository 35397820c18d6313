"""load_settings: environment, _FILE secrets, rules file, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from authgate.config import GENERATE_SECRET, AppRule, Settings, load_settings
from authgate.errors import ConfigError
from authgate.model import Identity

STRONG = "Zq8Xw3Lm5Np7Rt2Vb9Kc4Hd6Jf1Gs0Ya"
STRONG2 = "Pk4Lo9Ij2Uh7Yg5Tf3Rd8Es1Wa6Qz0Xc"
ISSUER = "https://idp.test/application/o/app/"


def env(**overrides: str) -> dict[str, str]:
    base = {"AUTHGATE_ISSUER": ISSUER, "AUTHGATE_CLIENT_ID": "client-1", "AUTHGATE_SECRET": STRONG}
    for key, value in overrides.items():
        base[f"AUTHGATE_{key.upper()}"] = value
    return {k: v for k, v in base.items() if v is not None}


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    assert info.value.problems, "ConfigError without problems"
    for p in info.value.problems:
        assert p in str(info.value)
    return info.value.problems


def has(problems: list[str], *needles: str) -> bool:
    return any(all(n in p for n in needles) for p in problems)


# --- a valid configuration -----------------------------------------------------------------------


def test_minimal_valid_configuration_and_defaults() -> None:
    s = load_settings(env())
    assert isinstance(s, Settings)
    assert s.issuer == ISSUER
    assert s.client_id == "client-1"
    assert s.secret == [STRONG]
    assert s.scope_list == ["openid", "email", "profile", "offline_access"]
    assert s.path_prefix == "/outpost.goauthentik.io"
    assert s.header_sets == ["authentik", "oauth2-proxy"]
    assert "10.0.0.0/8" in s.trusted_proxies
    assert "::1/128" in s.trusted_proxies
    assert s.redis_url == ""
    assert s.cookie_domain == ""
    assert s.dev_mode is False
    assert s.apps == []
    assert s.allowed_groups == s.allowed_users == s.allowed_email_domains == s.skip_auth == []


@pytest.fixture(autouse=True)
def _clean_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTHGATE_* variables of the shell running the tests must not change their outcome."""
    import os

    for key in list(os.environ):
        if key.upper().startswith("AUTHGATE_"):
            monkeypatch.delenv(key)


def test_environ_dict_wins_over_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_CLIENT_ID", "from-process")
    assert load_settings(env(client_id="from-dict")).client_id == "from-dict"


def test_environ_dict_is_isolated_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_ALLOWED_GROUPS", "leaked")
    monkeypatch.setenv("AUTHGATE_ISSUER", "https://leaked.test/")
    s = load_settings(env())
    assert s.allowed_groups == []
    assert has(problems_of({}), "AUTHGATE_ISSUER")


def test_comma_lists() -> None:
    s = load_settings(
        env(
            secret=f" {STRONG} ,{STRONG2},",
            allowed_groups="admins, ops team ,,dev",
            allowed_users="alice,bob",
            allowed_email_domains="corp.test, partner.test",
            allowed_redirect_domains=".corp.test,status.test",
            trusted_proxies="10.0.0.0/8, ::1",
            header_sets="authentik,authelia",
            skip_auth="GET=^/health$, POST=^/hooks/",
        )
    )
    assert s.secret == [STRONG, STRONG2]
    assert s.allowed_groups == ["admins", "ops team", "dev"]
    assert s.allowed_users == ["alice", "bob"]
    assert s.allowed_email_domains == ["corp.test", "partner.test"]
    assert s.allowed_redirect_domains == [".corp.test", "status.test"]
    assert s.trusted_proxies == ["10.0.0.0/8", "::1"]
    assert s.header_sets == ["authentik", "authelia"]
    assert s.skip_auth == ["GET=^/health$", "POST=^/hooks/"]


def test_scalars_are_parsed() -> None:
    s = load_settings(
        env(
            session_ttl="3600",
            login_ttl="120",
            store_timeout="0.5",
            redis_url="redis://redis.test:6379/0",
            scopes="openid email",
            path_prefix="/auth",
            dev_mode="false",
        )
    )
    assert s.session_ttl == 3600
    assert s.login_ttl == 120
    assert s.store_timeout == 0.5
    assert s.redis_url == "redis://redis.test:6379/0"
    assert s.scope_list == ["openid", "email"]
    assert s.path_prefix == "/auth"


# --- every problem at once -----------------------------------------------------------------------


def test_nothing_set_reports_issuer_client_id_and_secret_together() -> None:
    problems = problems_of({})
    assert len(problems) >= 3
    assert has(problems, "AUTHGATE_ISSUER", "not set")
    assert has(problems, "AUTHGATE_CLIENT_ID", "not set")
    assert has(problems, "AUTHGATE_SECRET", "not set", GENERATE_SECRET)


def test_missing_issuer_missing_client_id_and_weak_secret_in_one_error() -> None:
    problems = problems_of({"AUTHGATE_SECRET": "short"})
    assert len(problems) >= 3
    assert has(problems, "AUTHGATE_ISSUER")
    assert has(problems, "AUTHGATE_CLIENT_ID")
    assert has(problems, "AUTHGATE_SECRET", "weak")
    assert not any("short" in p for p in problems), "the secret itself must not be echoed"


def test_many_problems_reported_together() -> None:
    problems = problems_of(
        env(
            issuer="auth.test/no-scheme",
            backchannel_url="server:9000",
            scopes="email profile",
            path_prefix="outpost/",
            header_sets="authentik,bogus",
            trusted_proxies="10.0.0.0/8,not-a-cidr",
            skip_auth="GET=^/(unclosed",
            session_ttl="10",
            idp_timeout="0",
            cookie_domain="example.test",
        )
    )
    assert has(problems, "AUTHGATE_ISSUER", "absolute")
    assert has(problems, "AUTHGATE_BACKCHANNEL_URL", "absolute")
    assert has(problems, "AUTHGATE_SCOPES", "openid")
    assert has(problems, "AUTHGATE_PATH_PREFIX")
    assert has(problems, "AUTHGATE_HEADER_SETS", "bogus")
    assert has(problems, "AUTHGATE_TRUSTED_PROXIES", "not-a-cidr")
    assert has(problems, "AUTHGATE_SKIP_AUTH", "(unclosed")
    assert has(problems, "AUTHGATE_SESSION_TTL")
    assert has(problems, "AUTHGATE_IDP_TIMEOUT")
    assert has(problems, "AUTHGATE_EXTERNAL_URL", "not set")
    assert len(problems) >= 10


def test_type_error_is_reported_with_the_variable_name() -> None:
    problems = problems_of(env(session_ttl="a week"))
    assert has(problems, "AUTHGATE_SESSION_TTL")


def test_type_error_does_not_hide_other_problems() -> None:
    problems = problems_of({"AUTHGATE_SESSION_TTL": "abc"})
    assert has(problems, "AUTHGATE_SESSION_TTL")
    assert has(problems, "AUTHGATE_ISSUER")
    assert has(problems, "AUTHGATE_CLIENT_ID")


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weak",
    [
        "short",
        "x" * 31 + "",
        "a" * 64,  # long but one character
        "abababababababababababababababab",  # 32 characters, 2 distinct
        "abcdefgabcdefgabcdefgabcdefgabcdefg",  # 7 distinct
    ],
)
def test_weak_secret_refused(weak: str) -> None:
    problems = problems_of(env(secret=weak))
    assert has(problems, "AUTHGATE_SECRET", "weak")
    assert not any(weak in p for p in problems)


def test_every_weak_key_is_named() -> None:
    problems = problems_of(env(secret=f"{STRONG},weak-one,{STRONG2},weak-two"))
    assert has(problems, "key #2", "weak")
    assert has(problems, "key #4", "weak")
    assert not has(problems, "key #1")
    assert not has(problems, "key #3")


def test_dev_mode_allows_missing_or_weak_secret() -> None:
    s = load_settings(env(secret="", dev_mode="true"))
    assert s.dev_mode is True
    assert s.secret == []
    s = load_settings(env(secret="dev", dev_mode="1"))
    assert s.secret == ["dev"]


def test_dev_mode_does_not_excuse_other_problems() -> None:
    problems = problems_of({"AUTHGATE_DEV_MODE": "true"})
    assert has(problems, "AUTHGATE_ISSUER")
    assert has(problems, "AUTHGATE_CLIENT_ID")
    assert not has(problems, "AUTHGATE_SECRET")


def test_secret_file(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text(f"{STRONG}\n")
    e = env(secret_file=str(f))
    del e["AUTHGATE_SECRET"]
    s = load_settings(e)
    assert s.secret == [STRONG]


def test_secret_file_with_rotation_keys(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text(f"{STRONG},{STRONG2}\n")
    e = env(secret_file=str(f))
    del e["AUTHGATE_SECRET"]
    assert load_settings(e).secret == [STRONG, STRONG2]


def test_client_secret_file(tmp_path: Path) -> None:
    f = tmp_path / "client_secret"
    f.write_text("  s3cr3t-from-file \n")
    s = load_settings(env(client_secret_file=str(f)))
    assert s.client_secret == "s3cr3t-from-file"


def test_redis_url_file(tmp_path: Path) -> None:
    f = tmp_path / "redis"
    f.write_text("redis://:pw@redis.test:6379/0\n")
    assert load_settings(env(redis_url_file=str(f))).redis_url == "redis://:pw@redis.test:6379/0"


def test_weak_secret_in_file_is_still_refused(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("weak\n")
    e = env(secret_file=str(f))
    del e["AUTHGATE_SECRET"]
    assert has(problems_of(e), "AUTHGATE_SECRET", "weak")


def test_unreadable_secret_files_are_reported_with_the_rest(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    problems = problems_of(
        {"AUTHGATE_SECRET_FILE": str(missing), "AUTHGATE_CLIENT_SECRET_FILE": str(tmp_path / "nope2")}
    )
    assert has(problems, "AUTHGATE_SECRET_FILE", str(missing))
    assert has(problems, "AUTHGATE_CLIENT_SECRET_FILE")
    assert has(problems, "AUTHGATE_ISSUER")
    assert has(problems, "AUTHGATE_CLIENT_ID")


def test_secret_file_is_a_directory(tmp_path: Path) -> None:
    e = env(secret_file=str(tmp_path))
    del e["AUTHGATE_SECRET"]
    assert has(problems_of(e), "AUTHGATE_SECRET_FILE")


# --- domain-level mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie_domain", "external_url"),
    [
        ("example.test", "https://auth.example.test"),
        ("example.test", "https://example.test/"),
        (".example.test", "https://auth.example.test"),
        ("Example.Test", "https://AUTH.example.test:8443/"),
        ("example.test", "https://a.b.example.test"),
    ],
)
def test_cookie_domain_covering_external_url(cookie_domain: str, external_url: str) -> None:
    s = load_settings(env(cookie_domain=cookie_domain, external_url=external_url))
    assert s.cookie_domain == cookie_domain
    assert s.external_url == external_url


@pytest.mark.parametrize(
    "external_url",
    ["https://auth.other.test", "https://evilexample.test", "https://example.test.other.test", "https://test"],
)
def test_cookie_domain_not_covering_external_url_is_reported(external_url: str) -> None:
    problems = problems_of(env(cookie_domain="example.test", external_url=external_url))
    assert has(problems, "AUTHGATE_COOKIE_DOMAIN", "AUTHGATE_EXTERNAL_URL")


def test_cookie_domain_without_external_url_is_reported() -> None:
    assert has(problems_of(env(cookie_domain="example.test")), "AUTHGATE_EXTERNAL_URL", "not set")


def test_bad_external_url_is_reported() -> None:
    assert has(problems_of(env(external_url="auth.test")), "AUTHGATE_EXTERNAL_URL", "absolute")


# --- SKIP_AUTH ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["^/(unclosed", "GET=^/[a-", "POST=*bad", "(?P<x"])
def test_bad_regex_in_skip_auth_is_reported(rule: str) -> None:
    problems = problems_of(env(skip_auth=f"^/ok$,{rule}"))
    assert has(problems, "AUTHGATE_SKIP_AUTH", rule)
    assert len(problems) == 1


def test_good_skip_auth_rules() -> None:
    s = load_settings(env(skip_auth="GET=^/status$,^/public/.*\\.css$"))
    assert s.skip_auth == ["GET=^/status$", "^/public/.*\\.css$"]


# --- rules file -------------------------------------------------------------------------------------

TOML = """
[[apps]]
host = "grafana.test"
allowed_groups = ["grafana-users"]
skip_auth = ["GET=^/api/health$"]

[[apps]]
host = "Status.Test"
allowed_users = []
skip_auth = ["^/"]
"""

YAML = """
apps:
  - host: grafana.test
    allowed_groups: [grafana-users]
    skip_auth: ["GET=^/api/health$"]
  - host: Status.Test
    allowed_users: []
    skip_auth: ["^/"]
"""


def _check_rules(apps: list[AppRule]) -> None:
    assert [a.host for a in apps] == ["grafana.test", "status.test"]  # normalised at load
    grafana, status = apps
    assert grafana.groups == ["grafana-users"]  # the short form's allowed_groups
    assert grafana.users is None  # not given: inherits the global rule
    assert grafana.email_domains is None
    assert grafana.skip_auth == ["GET=^/api/health$"]
    assert status.groups is None
    assert status.users == []  # given as empty: explicitly anyone
    assert status.skip_auth == ["^/"]


def test_rules_file_toml(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(TOML)
    _check_rules(load_settings(env(config=str(f))).apps)


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_rules_file_yaml(tmp_path: Path, suffix: str) -> None:
    f = tmp_path / f"rules{suffix}"
    f.write_text(YAML)
    _check_rules(load_settings(env(config=str(f))).apps)


def test_rules_file_feeds_per_host_policy(tmp_path: Path) -> None:
    from authgate.access.policy import Policy
    from authgate.access.verdicts import Public

    f = tmp_path / "rules.toml"
    f.write_text(TOML)
    policy = Policy.from_settings(load_settings(env(config=str(f), allowed_groups="admins", skip_auth="POST=^/hook$")))
    admin = Identity(sub="1", username="a", groups=("admins",))
    viewer = Identity(sub="2", username="v", groups=("grafana-users",))

    default = policy.for_host("other.test")
    assert default.default.allows(admin)
    assert not default.default.allows(viewer)

    grafana = policy.for_host("grafana.test")
    assert grafana.default.allows(viewer)
    assert not grafana.default.allows(admin)
    assert isinstance(grafana.decide("GET", "/api/health"), Public)
    assert isinstance(grafana.decide("POST", "/hook"), Public)  # global skip rules still apply
    assert not isinstance(grafana.decide("GET", "/dashboards"), Public)

    status = policy.for_host("status.test")  # host matched case-insensitively
    assert isinstance(status.decide("GET", "/anything"), Public)
    assert status.default.allows(admin)


@pytest.mark.parametrize("host", ["https://admin.test", "admin.test:8443", "admin.test/x", ""])
def test_rules_file_host_that_can_never_match_is_reported(tmp_path: Path, host: str) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(f'[[apps]]\nhost = "{host}"\nallowed_groups = ["admins"]\n')
    assert has(problems_of(env(config=str(f))), "apps[0]", "host")


def test_empty_rules_file(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("")
    assert load_settings(env(config=str(f))).apps == []


def test_rules_file_problems_are_reported_with_the_rest(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(
        """
[[apps]]
host = "a.test"
skip_auth = ["GET=^/(bad"]

[[apps]]
allowed_groups = ["x"]

[[apps]]
host = "c.test"
alowed_groups = ["typo"]

[[apps]]
host = "d.test"
allowed_groups = "not-a-list"
"""
    )
    problems = problems_of({"AUTHGATE_CONFIG": str(f)})
    assert has(problems, "apps[0].skip_auth", "(bad")
    assert has(problems, "apps[1].host")
    assert has(problems, "apps[2].alowed_groups")
    assert has(problems, "apps[3].allowed_groups")
    assert has(problems, "AUTHGATE_ISSUER")
    assert has(problems, "AUTHGATE_CLIENT_ID")


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("rules.toml", "[[apps]\nhost = ", "not valid"),
        ("rules.yaml", "apps: [unclosed", "not valid"),
        ("rules.toml", 'apps = "grafana.test"', "`apps`"),
        ("rules.yaml", "apps:\n  host: a.test\n", "`apps`"),
        ("rules.yaml", "- a\n- b\n", "`apps`"),
    ],
)
def test_malformed_rules_file(tmp_path: Path, name: str, text: str, needle: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    problems = problems_of(env(config=str(f)))
    assert has(problems, "AUTHGATE_CONFIG", str(f), needle)


def test_missing_rules_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert has(problems_of(env(config=str(missing))), "AUTHGATE_CONFIG", str(missing), "cannot read")


def test_a_misspelt_variable_is_reported_with_a_suggestion() -> None:
    problems = problems_of(env(allowed_group="admins"))
    assert has(problems, "AUTHGATE_ALLOWED_GROUP is not a setting", "AUTHGATE_ALLOWED_GROUPS")
    problems = problems_of({**env(), "AUTHGATE_ISSUER_FILE": "/run/secrets/x"})
    assert has(problems, "AUTHGATE_ISSUER_FILE is not a setting")


def test_header_auth_modes_and_audiences() -> None:
    settings = load_settings(env(header_auth="Bearer, basic", header_auth_audiences="cli-tool,reports"))
    assert (settings.header_auth, settings.header_auth_audiences) == (["Bearer", "basic"], ["cli-tool", "reports"])
    assert load_settings(env()).header_auth == []  # off by default
    problems = problems_of(env(header_auth="bearer,digest"))
    assert has(problems, "AUTHGATE_HEADER_AUTH", "digest")
    problems = problems_of(env(header_auth="basic", header_auth_audiences="cli-tool"))
    assert has(problems, "AUTHGATE_HEADER_AUTH_AUDIENCES", "bearer")


# --- the idle timeout ----------------------------------------------------------------------------


def test_idle_timeout_off_by_default_and_parsed() -> None:
    assert load_settings(env()).session_idle_ttl == 0
    assert load_settings(env(session_idle_ttl="1800")).session_idle_ttl == 1800
    assert load_settings(env(session_idle_ttl="2", session_cache_ttl="0.5")).session_idle_ttl == 2


@pytest.mark.parametrize(("idle", "cache"), [("30", "15"), ("29.9", "15"), ("1", "0.5"), ("0.1", "15")])
def test_idle_timeout_must_exceed_twice_the_cache_ttl(idle: str, cache: str) -> None:
    problems = problems_of(env(session_idle_ttl=idle, session_cache_ttl=cache, client_id=""))
    assert has(problems, "AUTHGATE_SESSION_IDLE_TTL", "twice", "AUTHGATE_SESSION_CACHE_TTL")
    assert has(problems, "AUTHGATE_CLIENT_ID"), "reported with the other problems"


def test_a_negative_idle_timeout_is_refused() -> None:
    assert has(problems_of(env(session_idle_ttl="-1")), "AUTHGATE_SESSION_IDLE_TTL")


def test_with_the_cache_off_any_positive_idle_timeout_will_do() -> None:
    assert load_settings(env(session_idle_ttl="0.5", session_cache_ttl="0")).session_idle_ttl == 0.5


# --- the Redis URL -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("localhost:6379", "Did you mean redis://localhost:6379/0?"),
        ("redis.test", "Did you mean redis://redis.test/0?"),
        ("http://redis.test:6379", "must start with redis:// or rediss://"),
        ("redis://", "names no server"),
        ("redis://redis.test:port/0", "port that is not a number"),
        ("redis://redis.test:6379/sessions", "database number"),
        ("unix://", "socket's path"),
    ],
)
def test_a_redis_url_that_is_no_redis_url_is_reported_with_the_rest(url: str, needle: str) -> None:
    problems = problems_of(env(redis_url=url, issuer=""))
    assert has(problems, "AUTHGATE_REDIS_URL", needle), problems
    assert has(problems, "AUTHGATE_ISSUER", "not set"), "reported with the other problems"


def test_a_bad_redis_url_with_a_password_does_not_echo_it() -> None:
    problems = problems_of(env(redis_url="redis:6379?password=hunter2-secret"))
    assert has(problems, "AUTHGATE_REDIS_URL")
    assert not any("hunter2" in p for p in problems)


@pytest.mark.parametrize(
    "url",
    [
        "redis://redis.test:6379/0",
        "rediss://:pw@redis.test:6380/2?ssl_cert_reqs=none",
        "unix:///run/redis.sock?db=1",
        "redis+sentinel://s1.test:26379,s2.test:26379/mymaster/0",
        "rediss+cluster://node.test:7000",
    ],
)
def test_good_redis_urls_pass(url: str) -> None:
    assert load_settings(env(redis_url=url)).redis_url == url


def test_a_missing_issuer_says_what_to_set() -> None:
    problems = problems_of(env(issuer=""))
    assert has(problems, "AUTHGATE_ISSUER is not set:", "https://auth.example.com/application/o/<slug>/")


def test_the_secret_hint_uses_python3() -> None:
    assert GENERATE_SECRET.startswith("python3 -c ")


def test_serve_help_says_settings_come_from_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    from authgate.cli.main import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "settings come from the environment: AUTHGATE_* variables" in text
    assert "docs/configuration.md" in text
    for option in ("--host HOST address to listen on", "--port PORT port to listen on", "--workers WORKERS worker"):
        assert option in text
