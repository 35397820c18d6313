"""Outpost mode's pure parts: a provider as an app, the rules file laid over the providers, the
settings (the outpost's own variable names, the secret derived from the token), the closed policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authgate.access.policy import Policy
from authgate.access.verdicts import Deny, Public
from authgate.config import AppRule, load_settings, outpost_secret
from authgate.errors import ConfigError
from authgate.outpost.api import Outpost
from authgate.outpost.providers import Provider, app_rule, browser_issuer, merge, skip_rules

TOKEN = "t" * 64


def api_entry(**changes: Any) -> dict[str, Any]:
    """One entry of /api/v3/outposts/proxy/, as ProxyOutpostConfigSerializer writes it."""
    return {
        "pk": 7,
        "name": "Grafana",
        "external_host": "https://grafana.example.com:8443/",
        "client_id": "cid",
        "client_secret": "csecret",
        "oidc_configuration": {
            "issuer": "http://server:9000/application/o/grafana/",
            "id_token_signing_alg_values_supported": ["HS256"],
        },
        "scopes_to_request": ["email", "profile", "ak_proxy"],
        "skip_path_regex": "^/api/health$\n\nGET=/x\n^/bad(",
        "mode": "forward_single",
        "intercept_header_auth": True,
        "assigned_application_slug": "grafana",
        "assigned_application_name": "Grafana",
        **changes,
    }


def test_a_provider_becomes_a_host_entry_with_its_own_client() -> None:
    p = Provider.from_api(api_entry())
    assert p.host == "grafana.example.com" and p.served
    rule = app_rule(p, host_browser="https://auth.example.com")
    assert rule.hosts == ["grafana.example.com"]
    assert rule.issuer == "https://auth.example.com/application/o/grafana/", "the browser's host, as the outpost"
    assert (rule.client_id, rule.client_secret) == ("cid", "csecret")
    assert rule.scopes is not None and rule.scopes.split()[0] == "openid", "openid is always asked for"
    assert rule.skip_auth == ["^/api/health$", "(?:)GET=/x"], "one regex a line; a METHOD= look-alike kept whole"
    assert rule.header_auth == ["bearer", "basic"]
    assert app_rule(Provider.from_api(api_entry(intercept_header_auth=False))).header_auth == []
    AppRule.model_validate(rule.model_dump())  # what it builds passes the rules file's own checks


def test_skip_rules_leave_out_what_does_not_compile() -> None:
    assert skip_rules("^/a\n^/bad(\n") == (["^/a"], ["^/bad("])


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"oidc_configuration": None}, "^no oidc_configuration$"),
        ({"oidc_configuration": {}}, "^no oidc_configuration.issuer$"),
        ({"client_secret": ""}, "^no client_secret$"),
        ({"external_host": "grafana.example.com"}, "external_host"),
    ],
)
def test_a_provider_missing_what_it_needs_is_refused(entry: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Provider.from_api(api_entry(**entry))


def test_proxy_mode_is_not_served() -> None:
    assert not Provider.from_api(api_entry(mode="proxy")).served


def test_browser_issuer_keeps_the_path() -> None:
    assert browser_issuer("http://server:9000/application/o/x/", "") == "http://server:9000/application/o/x/"
    assert browser_issuer("http://server:9000/application/o/x/", "https://a.test") == "https://a.test/application/o/x/"


def test_the_rules_file_adds_to_a_providers_app_and_keeps_its_own_hosts() -> None:
    provider = app_rule(Provider.from_api(api_entry(external_host="https://grafana.test")))
    extra = AppRule.model_validate({"host": ["grafana.test", "other.test"], "groups": ["admins"], "skip_auth": ["^/p"]})
    own = AppRule.model_validate(
        {"host": "own.test", "issuer": "https://idp.test/", "client_id": "c", "client_secret": "s"}
    )
    merged = {r.hosts[0] if len(r.hosts) == 1 else tuple(r.hosts): r for r in merge([provider], [extra, own])}
    grafana = merged["grafana.test"]
    assert grafana.groups == ["admins"] and grafana.client_id == "cid"
    assert grafana.skip_auth == ["^/api/health$", "(?:)GET=/x", "^/p"]
    assert merged["other.test"].client_id is None, "a host Authentik does not list: an app of its own"
    assert merged["own.test"].client_id == "c"
    assert merge([provider], []) == [provider]


def test_outpost_mode_refuses_hosts_no_provider_serves() -> None:
    settings = load_settings({"AUTHENTIK_HOST": "http://server:9000", "AUTHENTIK_TOKEN": TOKEN})
    rule = app_rule(Provider.from_api(api_entry(external_host="https://grafana.test")))
    policy = Policy.from_settings(settings.model_copy(update={"apps": [rule]}), closed=True)
    refused = policy.for_host("unknown.test").decide("GET", "/")
    assert isinstance(refused, Deny) and refused.name == "no provider of this outpost serves this host"
    assert not isinstance(policy.for_host("grafana.test").decide("GET", "/"), Deny)
    assert isinstance(policy.for_host("grafana.test").decide("GET", "/api/health"), Public), "skip_path_regex"


def test_the_outposts_own_variables_work_and_ours_win(tmp_path: Path) -> None:
    s = load_settings(
        {
            "AUTHENTIK_HOST": "http://server:9000",
            "AUTHENTIK_TOKEN": TOKEN,
            "AUTHENTIK_INSECURE": "true",
            "AUTHENTIK_HOST_BROWSER": "https://auth.example.com",
        }
    )
    assert s.outpost_mode and s.authentik_insecure and s.authentik_host_browser == "https://auth.example.com"
    assert not s.issuer and not s.client_id, "no issuer, client or rules file needed"
    token_file = tmp_path / "token"
    token_file.write_text("from-the-file-" + TOKEN + "\n")
    s = load_settings(
        {
            "AUTHENTIK_HOST": "http://server:9000",
            "AUTHGATE_AUTHENTIK_HOST": "http://ours:9000",
            "AUTHENTIK_TOKEN": TOKEN,
            "AUTHGATE_AUTHENTIK_TOKEN_FILE": str(token_file),
        }
    )
    assert s.authentik_host == "http://ours:9000"
    assert s.authentik_token == "from-the-file-" + TOKEN


def test_the_secret_is_derived_from_the_token_alike_on_every_replica() -> None:
    env = {"AUTHENTIK_HOST": "http://server:9000", "AUTHENTIK_TOKEN": TOKEN}
    one, two = load_settings(env), load_settings(dict(env))
    assert one.secret == two.secret == [outpost_secret(TOKEN)]
    assert len(one.secret[0]) >= 32 and TOKEN not in one.secret[0]
    assert outpost_secret(TOKEN + "x") != one.secret[0], "a new token, a new key"
    assert load_settings({**env, "AUTHGATE_SECRET": "s" * 20 + "abcdefghij12"}).secret == ["s" * 20 + "abcdefghij12"]


def test_outpost_mode_problems_are_said() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"AUTHENTIK_HOST": "server:9000", "AUTHGATE_COOKIE_DOMAIN": "example.com"})
    text = "\n".join(err.value.problems)
    assert "AUTHENTIK_TOKEN is not set" in text
    assert "AUTHGATE_AUTHENTIK_HOST='server:9000' is not an absolute http(s) URL" in text
    assert "AUTHGATE_COOKIE_DOMAIN is set in outpost mode" in text
    assert "AUTHGATE_ISSUER" not in text and "AUTHGATE_CLIENT_ID" not in text


@pytest.mark.parametrize(("given", "used"), [(0, 300.0), (None, 300.0), (10, 30.0), (120, 120.0)])
def test_the_refresh_interval_as_the_outpost_clamps_it(given: int | None, used: float) -> None:
    assert Outpost.from_api({"pk": "x", "type": "proxy", "refresh_interval_s": given}).refresh_interval_s == used


def test_every_field_of_a_provider_is_read_as_authentik_writes_it() -> None:
    entry = api_entry(
        cookie_domain="example.com",
        basic_auth_enabled=True,
        mode="forward_domain",
        external_host="https://grafana.example.com/",
    )
    assert Provider.from_api(entry) == Provider(
        pk=7,
        name="Grafana",
        external_host="https://grafana.example.com",
        mode="forward_domain",
        client_id="cid",
        client_secret="csecret",
        issuer="http://server:9000/application/o/grafana/",
        signing_algs=("HS256",),
        scopes=("email", "profile", "ak_proxy"),
        skip_path_regex="^/api/health$\n\nGET=/x\n^/bad(",
        intercept_header_auth=True,
        cookie_domain="example.com",
        basic_auth_enabled=True,
        app_slug="grafana",
        app_name="Grafana",
    )


def test_what_authentik_leaves_out_has_the_outposts_defaults() -> None:
    minimal = {
        "external_host": "http://a.test",
        "client_id": "c",
        "client_secret": "s",
        "oidc_configuration": {"issuer": "http://i.test/"},
    }
    assert Provider.from_api(minimal) == Provider(
        pk=0,
        name="",
        external_host="http://a.test",
        mode="proxy",  # Authentik's default mode
        client_id="c",
        client_secret="s",
        issuer="http://i.test/",
        signing_algs=(),
        scopes=(),
        skip_path_regex="",
        intercept_header_auth=True,  # Authentik's default
        cookie_domain="",
        basic_auth_enabled=False,
        app_slug="",
        app_name="",
    )
    explicit_none = {**minimal, "pk": None, "name": None, "mode": None, "skip_path_regex": None}
    explicit_none |= {"cookie_domain": None, "assigned_application_slug": None, "assigned_application_name": None}
    assert Provider.from_api(explicit_none) == Provider.from_api(minimal)


@pytest.mark.parametrize(
    "entry",
    [
        {"oidc_configuration": {"issuer": 3}},
        {"oidc_configuration": {}},
        {"client_id": 5},
        {"external_host": "ftp://grafana.test"},
        {"external_host": "http://"},
    ],
)
def test_malformed_entries_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Provider.from_api(api_entry(**entry))


def test_the_whole_host_entry_of_a_provider() -> None:
    p = Provider.from_api(api_entry(external_host="https://grafana.test", scopes_to_request=["openid", "email"]))
    assert (
        app_rule(p).model_dump()
        == AppRule.model_validate(
            {
                "host": ["grafana.test"],
                "issuer": "http://server:9000/application/o/grafana/",  # without AUTHENTIK_HOST_BROWSER: as given
                "client_id": "cid",
                "client_secret": "csecret",
                "scopes": "openid email",  # openid not repeated
                "skip_auth": ["^/api/health$", "(?:)GET=/x"],
                "header_auth": ["bearer", "basic"],
                "basic_auth_enabled": False,  # the provider's own choice: off, not the global setting
                "authentik_provider_name": "Grafana",
                "authentik_app_slug": "grafana",
            }
        ).model_dump()
    )


def test_a_rules_file_entry_naming_its_own_client_wins_over_the_provider() -> None:
    provider = app_rule(Provider.from_api(api_entry(external_host="https://grafana.test")))
    own = AppRule.model_validate(
        {"host": "grafana.test", "issuer": "https://idp.test/", "client_id": "mine", "client_secret": "s"}
    )
    assert merge([provider], [own]) == [own]


def test_a_rules_file_entry_takes_the_providers_client_whole() -> None:
    provider = app_rule(Provider.from_api(api_entry(external_host="https://grafana.test", intercept_header_auth=False)))
    first = AppRule.model_validate({"host": "first.test"})
    extra = AppRule.model_validate({"host": "grafana.test", "header_auth": ["bearer"]})
    second = AppRule.model_validate({"host": "second.test"})
    merged = merge([provider], [first, extra, second])
    assert [r.hosts for r in merged] == [["first.test"], ["grafana.test"], ["second.test"]], "each entry, once"
    grafana = merged[1]
    assert (grafana.issuer, grafana.client_id, grafana.client_secret, grafana.scopes) == (
        provider.issuer,
        provider.client_id,
        provider.client_secret,
        provider.scopes,
    )
    assert grafana.header_auth == ["bearer"], "the file's header auth, when it says one"
    assert merge([provider], [AppRule.model_validate({"host": "grafana.test"})])[0].header_auth == []


def test_blank_lines_of_skip_path_regex_are_no_rule() -> None:
    assert skip_rules("\n  \n^/a\n") == (["^/a"], [])
    assert skip_rules("^/bad(\n^/after") == (["^/after"], ["^/bad("]), "a bad line does not end the list"


def test_a_trailing_slash_of_external_host_is_dropped_and_nothing_else() -> None:
    assert Provider.from_api(api_entry(external_host="https://APP.BOX/")).external_host == "https://APP.BOX"
