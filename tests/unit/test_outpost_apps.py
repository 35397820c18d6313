"""Outpost mode's per-provider settings, as Authentik's outpost applies them: HTTP Basic credentials,
``access_token_validity``, the provider's name in ``X-authentik-meta-provider``, ``forward_domain``
(every host under the cookie domain, signed in at the external host), and the rules file's own
keys for the same; and the callback query on any path."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from authgate.access.upstream import BasicAuth, from_claims
from authgate.config import AppRule, Settings, load_settings
from authgate.errors import InvalidRedirect
from authgate.outpost.providers import Provider, app_rule, merge
from authgate.store import MemoryStore
from authgate.web.common import valid_target
from authgate.web.parse import CALLBACK_KEY, LOGOUT_KEY, BrowserRoute, Caller, Check, parse_check, query_says
from authgate.wiring.gateway import Gateway, build_gateway
from authgate.wiring.outpost import OutpostApps
from authgate.wiring.site import SINGLE, Domain

TOKEN = "t" * 64


def entry(slug: str, **changes: Any) -> dict[str, Any]:
    """One entry of /api/v3/outposts/proxy/ (ProxyOutpostConfigSerializer's fields)."""
    return {
        "pk": 1,
        "name": f"{slug.title()} provider",
        "external_host": f"https://{slug}.example.test",
        "client_id": f"client-{slug}",
        "client_secret": f"secret-{slug}",
        "oidc_configuration": {
            "issuer": f"http://server:9000/application/o/{slug}/",
            "id_token_signing_alg_values_supported": ["HS256"],
        },
        "mode": "forward_single",
        "cookie_domain": "",
        "basic_auth_enabled": False,
        "basic_auth_user_attribute": "",
        "basic_auth_password_attribute": "",
        "access_token_validity": 86400.0,
        "intercept_header_auth": True,
        "scopes_to_request": ["openid", "email", "profile", "ak_proxy"],
        "assigned_application_slug": slug,
        "assigned_application_name": slug.title(),
        **changes,
    }


def domain_entry(slug: str = "auth", domain: str = "example.test", **changes: Any) -> dict[str, Any]:
    return entry(slug, mode="forward_domain", cookie_domain=domain, **changes)


def outpost_gateway(*providers: dict[str, Any], env: dict[str, str] | None = None, name: str = "") -> Gateway:
    settings = load_settings({"AUTHENTIK_HOST": "http://server:9000", "AUTHENTIK_TOKEN": TOKEN, **(env or {})})
    gw = build_gateway(settings, store=MemoryStore())
    OutpostApps(settings, gw.swap_policy).set_providers([Provider.from_api(p) for p in providers], name)
    return gw


# --- forward_domain ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie_domain", "domain"),
    [
        ("example.test", "example.test"),
        (".Example.TEST", "example.test"),  # Authentik's UI suggests a leading dot; case does not matter
        (" example.test ", "example.test"),
        ("", ""),  # no cookie domain: the external host only
        ("other.test", ""),  # does not cover auth.example.test: its cookie would never come back
        ("ample.test", ""),  # a suffix, not on a dot boundary
        ("test", ""),  # a top-level domain: browsers refuse such a cookie
        ("exa mple.test", ""),
        ("*.example.test", ""),
    ],
)
def test_a_forward_domain_providers_cookie_domain(cookie_domain: str, domain: str) -> None:
    p = Provider.from_api(domain_entry(domain=cookie_domain))
    assert p.domain == domain
    assert p.hosts == (["auth.example.test", "*.example.test", "example.test"] if domain else ["auth.example.test"])


def test_forward_single_has_no_domain_whatever_its_cookie_domain() -> None:
    p = Provider.from_api(entry("app", cookie_domain="example.test"))
    assert p.domain == "" and p.hosts == ["app.example.test"]


def test_the_external_host_at_the_cookie_domain_itself_is_listed_once() -> None:
    p = Provider.from_api(domain_entry(external_host="https://example.test"))
    assert p.hosts == ["example.test", "*.example.test"]


def test_a_forward_domain_provider_becomes_an_app_of_every_host_under_its_domain() -> None:
    rule = app_rule(Provider.from_api(domain_entry()))
    assert rule.hosts == ["auth.example.test", "*.example.test", "example.test"]
    assert (rule.cookie_domain, rule.external_url) == ("example.test", "https://auth.example.test")
    AppRule.model_validate(rule.model_dump())  # passes the rules file's own checks
    single = app_rule(Provider.from_api(entry("app")))
    assert (single.cookie_domain, single.external_url) == (None, None)


def test_exact_forward_single_hosts_win_over_a_domain_providers_wildcard() -> None:
    gw = outpost_gateway(
        domain_entry(),
        entry("app1"),  # app1.example.test: under the domain, but a provider of its own
        domain_entry("login", "corp.test", external_host="https://login.corp.test"),
        domain_entry("deep", "b.corp.test", external_host="https://deep.b.corp.test"),
    )
    assert gw.client_for("app1.example.test") == "client-app1"
    assert gw.domain_for("app1.example.test") == SINGLE
    for host in ("grafana.example.test", "a.b.example.test", "example.test", "auth.example.test"):
        assert gw.client_for(host) == "client-auth", host
        assert gw.domain_for(host) == Domain("example.test", "https://auth.example.test")
    assert gw.client_for("wiki.corp.test") == "client-login"
    assert gw.client_for("x.b.corp.test") == "client-deep", "the longest cookie domain wins, as the outpost's"
    assert gw.policy.for_host("evilexample.test").app == "", "a dot boundary: not under example.test"
    assert gw.domain_for("nowhere.test") == SINGLE


def test_site_urls_of_a_domain_app_go_to_its_external_host() -> None:
    gw = outpost_gateway(domain_entry(), entry("app1"))
    domain = gw.domain_for("grafana.example.test")
    origin = "https://grafana.example.test"
    assert gw.site.callback_url(origin, domain) == (
        "https://auth.example.test/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
    )
    assert gw.site.signed_out_url(origin, domain) == "https://auth.example.test/outpost.goauthentik.io/signed_out"
    assert gw.site.start_url(origin, "https://x.test/", domain).startswith("https://auth.example.test/")
    single = gw.domain_for("app1.example.test")
    assert gw.site.callback_url("https://app1.example.test", single).startswith("https://app1.example.test/")


def test_a_domain_apps_sessions_are_scoped_to_its_cookie_domain() -> None:
    gw = outpost_gateway(domain_entry(), entry("app1"))
    assert gw.login.scope("auth.example.test") == ".example.test"
    assert gw.login.scope("app1.example.test") == "app1.example.test"


@pytest.mark.parametrize(
    ("host", "target", "allowed"),
    [
        ("auth.example.test", "https://grafana.example.test/x", True),
        ("grafana.example.test", "https://a.b.example.test/", True),
        ("auth.example.test", "https://example.test/", True),
        ("auth.example.test", "https://evilexample.test/", False),
        ("auth.example.test", "https://app.corp.test/", False),  # another provider's domain
        ("app1.example.test", "https://grafana.example.test/", False),  # a single host: its own only
        ("app1.example.test", "https://app1.example.test/x", True),
        ("login.corp.test", "https://auth.example.test/", False),
    ],
)
def test_return_urls_stay_inside_the_apps_own_cookie_domain(host: str, target: str, allowed: bool) -> None:
    gw = outpost_gateway(domain_entry(), entry("app1"), domain_entry("login", "corp.test"))
    if allowed:
        assert valid_target(gw, target, host) == target
    else:
        with pytest.raises(InvalidRedirect):
            valid_target(gw, target, host)


def test_the_global_domain_level_mode_still_applies_to_every_app() -> None:
    env = {
        "AUTHGATE_ISSUER": "https://idp.test/",
        "AUTHGATE_CLIENT_ID": "c",
        "AUTHGATE_DEV_MODE": "true",
        "AUTHGATE_COOKIE_DOMAIN": "example.com",
        "AUTHGATE_EXTERNAL_URL": "https://auth.example.com",
    }
    gw = build_gateway(load_settings(env), store=MemoryStore())
    assert gw.domain_for("app.example.com") == Domain("example.com", "https://auth.example.com")
    assert gw.login.scope("auth.example.com") == ".example.com"
    assert valid_target(gw, "https://b.example.com/", "a.example.com") == "https://b.example.com/"


# --- the rules file over domain providers ------------------------------------------------------


def test_a_rules_file_entry_under_a_domain_provider_is_signed_in_by_it() -> None:
    domain = app_rule(Provider.from_api(domain_entry()))
    single = app_rule(Provider.from_api(entry("app1")))
    grafana = AppRule.model_validate({"host": "grafana.example.test", "groups": ["ops"]})
    whole = AppRule.model_validate({"host": "auth.example.test", "users": ["alice"]})
    wild = AppRule.model_validate({"host": "*.example.test", "groups": ["staff"]})
    other = AppRule.model_validate({"host": "other.test"})
    merged = merge([domain, single], [grafana, whole, wild, other])
    by_first = {r.hosts[0]: r for r in merged}
    g = by_first["grafana.example.test"]
    assert (g.client_id, g.cookie_domain, g.external_url, g.groups) == (
        "client-auth",
        "example.test",
        "https://auth.example.test",
        ["ops"],
    )
    assert by_first["auth.example.test"].hosts == domain.hosts, "the provider's own host: its whole app"
    assert by_first["auth.example.test"].users == ["alice"]
    assert by_first["*.example.test"].client_id == "client-auth"
    assert by_first["app1.example.test"] is single, "an exact provider host is not taken by the domain"
    assert by_first["other.test"].client_id is None
    hosts = [h for r in merged for h in r.hosts]
    assert hosts.index("*.example.test", hosts.index("auth.example.test") + 1), "the file's wildcard comes later"


def test_a_rules_file_entry_says_its_own_values_over_the_providers() -> None:
    wiki = app_rule(
        Provider.from_api(
            entry(
                "wiki",
                basic_auth_enabled=True,
                basic_auth_password_attribute="pw",
                access_token_validity=3600.0,
            )
        )
    )
    mine = AppRule.model_validate(
        {
            "host": "wiki.example.test",
            "basic_auth_enabled": False,
            "session_ttl": 600,
            "authentik_provider_name": "Mine",
            "authentik_app_slug": "my-wiki",
        }
    )
    (merged,) = merge([wiki], [mine])
    assert (merged.basic_auth_enabled, merged.session_ttl) == (False, 600)
    assert (merged.authentik_provider_name, merged.authentik_app_slug) == ("Mine", "my-wiki")
    assert (merged.client_id, merged.basic_auth_password_attribute) == ("client-wiki", "pw"), "the rest: the provider's"


def test_the_longest_cookie_domain_signs_a_file_entry_in() -> None:
    outer = app_rule(Provider.from_api(domain_entry()))
    # z.example.test sorts after example.test as a string: only its length puts it first.
    inner = app_rule(
        Provider.from_api(domain_entry("deep", "z.example.test", external_host="https://deep.z.example.test"))
    )
    for providers in ([outer, inner], [inner, outer]):
        merged = merge(providers, [AppRule.model_validate({"host": "x.z.example.test"})])
        assert next(r for r in merged if r.hosts == ["x.z.example.test"]).client_id == "client-deep"
        merged = merge(providers, [AppRule.model_validate({"host": "x.example.test"})])
        assert next(r for r in merged if r.hosts == ["x.example.test"]).client_id == "client-auth"


def test_every_entry_of_the_file_is_read_whatever_comes_before_it() -> None:
    provider = app_rule(Provider.from_api(entry("wiki")))
    own = AppRule.model_validate(
        {"host": "own.test", "issuer": "https://idp.test/", "client_id": "c", "client_secret": "s"}
    )
    mixed = AppRule.model_validate({"host": ["other.test", "wiki.example.test"], "groups": ["ops"]})
    merged = merge([provider], [own, mixed])
    by_first = {r.hosts[0]: r for r in merged}
    assert by_first["wiki.example.test"].groups == ["ops"], "after an own client's entry, after an unknown host"
    assert by_first["wiki.example.test"].client_id == "client-wiki"
    assert by_first["other.test"].client_id is None and by_first["own.test"].client_id == "c"


# --- HTTP Basic, access_token_validity, the provider's name -------------------------------------


def test_per_provider_basic_auth_as_the_serializer_spells_it() -> None:
    on = Provider.from_api(
        entry(
            "wiki",
            basic_auth_enabled=True,
            basic_auth_user_attribute="app_username",
            basic_auth_password_attribute="app_password",
        )
    )
    assert (on.basic_auth_user_attribute, on.basic_auth_password_attribute) == ("app_username", "app_password")
    rule = app_rule(on)
    assert (rule.basic_auth_enabled, rule.basic_auth_user_attribute, rule.basic_auth_password_attribute) == (
        True,
        "app_username",
        "app_password",
    )
    half = app_rule(Provider.from_api(entry("w", basic_auth_enabled=True, basic_auth_user_attribute="u")))
    assert half.basic_auth_enabled is False, "no password attribute: nothing to send (Authentik requires both)"
    off = app_rule(Provider.from_api(entry("w", basic_auth_password_attribute="app_password")))
    assert (off.basic_auth_enabled, off.basic_auth_password_attribute) == (False, None)


def test_each_provider_app_has_its_own_basic_auth_over_the_global_setting() -> None:
    wiki = entry(
        "wiki",
        basic_auth_enabled=True,
        basic_auth_user_attribute="app_username",
        basic_auth_password_attribute="app_password",
    )
    env = {"AUTHGATE_AUTHENTIK_BASIC_AUTH_PASSWORD_ATTRIBUTE": "global_password"}
    gw = outpost_gateway(wiki, entry("plain"), env=env)
    assert gw.for_scope("wiki.example.test")[0] == BasicAuth("app_username", "app_password")
    assert gw.for_scope("plain.example.test")[0] == BasicAuth(), "the provider says off: off"
    assert gw.for_scope("nowhere.test")[0] == BasicAuth("", "global_password")
    claims = {"email": "a@x.test", "ak_proxy": {"user_attributes": {"app_username": "al", "app_password": "pw"}}}
    assert gw.sessions.upstream_of(claims, "wiki.example.test") == (("Authorization", "Basic YWw6cHc="),)
    assert gw.sessions.upstream_of(claims, "plain.example.test") == ()
    assert from_claims(claims, gw.for_scope("wiki.example.test")[0]).headers[0][0] == "Authorization"


@pytest.mark.parametrize(
    ("validity", "ttl"),
    [
        (300.0, 300),
        (300, 300),
        (299.2, 300),  # whole seconds, rounded up
        (86400.0, 86400),
        (None, None),
        (0, None),
        (-5, None),
        ("3600", 3600),
        ("soon", None),
        (True, None),
        (math.inf, None),
        (math.nan, None),
        ([1], None),
    ],
)
def test_access_token_validity_is_read_as_seconds(validity: Any, ttl: int | None) -> None:
    p = Provider.from_api(entry("a", access_token_validity=validity))
    assert p.session_ttl == ttl
    assert app_rule(p).session_ttl == ttl


def test_access_token_validity_bounds_the_apps_sessions() -> None:
    gw = outpost_gateway(
        entry("short", access_token_validity=300.0),
        entry("long", access_token_validity=30 * 86400.0),
        entry("unset", access_token_validity=None),
        env={"AUTHGATE_SESSION_TTL": "86400"},
    )
    assert gw.for_scope("short.example.test")[1] == 300
    assert gw.for_scope("long.example.test")[1] == 86400, "AUTHGATE_SESSION_TTL still caps it"
    assert gw.for_scope("unset.example.test")[1] == 86400


def test_meta_provider_is_the_providers_name_and_app_its_slug() -> None:
    gw = outpost_gateway(entry("wiki", name="Wiki (proxy)"), entry("bare", name=""))
    meta = gw.app_for("wiki.example.test").meta
    assert (meta.provider, meta.app) == ("Wiki (proxy)", "wiki")
    assert gw.app_for("bare.example.test").meta.provider == "bare", "no name: the slug, as before"


def test_meta_outpost_is_the_outposts_name_in_authentik_unless_the_setting_names_one() -> None:
    gw = outpost_gateway(entry("wiki"), name="Home outpost")
    assert gw.app_for("wiki.example.test").meta.outpost == "Home outpost", "as Authentik's outpost sends it"
    assert outpost_gateway(entry("wiki")).app_for("wiki.example.test").meta.outpost == "authgate", "not read yet"
    env = {"AUTHGATE_AUTHENTIK_OUTPOST_NAME": "edge"}
    assert outpost_gateway(entry("wiki"), env=env, name="Home outpost").app_for("wiki.example.test").meta.outpost == (
        "edge"
    ), "the operator's setting wins"


def main_settings() -> Settings:
    """A gateway outside outpost mode whose own client is Authentik's application "main"."""
    return load_settings(
        {
            "AUTHGATE_ISSUER": "https://auth.test/application/o/main/",
            "AUTHGATE_CLIENT_ID": "c",
            "AUTHGATE_DEV_MODE": "true",
        }
    )


def test_rules_file_apps_keep_todays_meta_default() -> None:
    settings = main_settings()
    own = AppRule.model_validate(
        {"host": "wiki.test", "issuer": "https://auth.test/application/o/wiki/", "client_id": "w", "client_secret": "s"}
    )
    named = AppRule.model_validate({"host": "named.test", "authentik_provider_name": "Named", "session_ttl": 600})
    gw = _with_apps(settings, [own, named])
    assert (gw.app_for("wiki.test").meta.provider, gw.app_for("wiki.test").meta.app) == ("wiki", "wiki")
    assert gw.app_for("named.test").meta.provider == "Named"
    assert gw.app_for("named.test").meta.app == "main"
    assert gw.for_scope("named.test")[1] == 600
    assert gw.for_scope("other.test")[1] == settings.session_ttl


def test_a_domain_session_finds_its_app_when_the_domain_is_no_host_of_it() -> None:
    settings = main_settings()
    wild = AppRule.model_validate(
        {
            "host": "*.example.test",
            "cookie_domain": "example.test",
            "external_url": "https://auth.example.test",
            "session_ttl": 900,
            "basic_auth_enabled": True,
            "basic_auth_password_attribute": "pw",
        }
    )
    gw = _with_apps(settings, [wild])
    assert gw.policy.for_host("example.test").app == "", "the bare domain is no host of the entry"
    assert gw.for_scope(".example.test") == (BasicAuth("", "pw"), 900)
    assert gw.for_scope("a.example.test") == (BasicAuth("", "pw"), 900)
    assert gw.for_scope(".other.test")[1] == settings.session_ttl
    assert gw.login.scope("auth.example.test") == ".example.test"


def _with_apps(settings: Settings, apps: list[AppRule]) -> Gateway:
    settings = settings.model_copy(update={"apps": apps})
    return build_gateway(settings, store=MemoryStore())


# --- the rules file's own keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"basic_auth_enabled": True}, "basic_auth_password_attribute"),
        ({"basic_auth_password_attribute": "p"}, "without basic_auth_enabled"),
        ({"session_ttl": 30}, "at least 60"),
        ({"cookie_domain": "example.test"}, "go together"),
        ({"external_url": "https://auth.example.test"}, "go together"),
        ({"cookie_domain": "example", "external_url": "https://auth.example"}, "must be a domain"),
        ({"cookie_domain": "other.test", "external_url": "https://auth.example.test"}, "does not cover"),
        ({"cookie_domain": "example.test", "external_url": "auth.example.test"}, "does not cover"),
    ],
)
def test_the_rules_files_per_app_keys_are_checked(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AppRule.model_validate({"host": "app.example.test", **fields})


def test_a_rules_file_entry_with_its_own_domain() -> None:
    rule = AppRule.model_validate(
        {
            "host": ["*.Example.test", "example.test"],
            "cookie_domain": ".EXAMPLE.test",
            "external_url": "https://auth.example.test",
        }
    )
    assert rule.cookie_domain == "example.test" and rule.own_services
    with pytest.raises(ValidationError, match=r"does not cover 'app\.other\.test'"):
        AppRule.model_validate(
            {"host": ["app.other.test"], "cookie_domain": "example.test", "external_url": "https://auth.example.test"}
        )
    basic = AppRule.model_validate({"host": "a.test", "basic_auth_enabled": True, "basic_auth_password_attribute": "p"})
    assert basic.own_services and not AppRule.model_validate({"host": "a.test"}).own_services
    assert AppRule.model_validate({"host": "a.test", "basic_auth_enabled": False}).own_services


# --- the callback query on any path -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "callback"),
    [
        ("X-authentik-auth-callback=true", True),
        ("code=c&state=s&X-authentik-auth-callback=TRUE", True),
        ("X-authentik-auth-callback=True&X-authentik-auth-callback=false", True),  # the first value, as Go's Get
        ("X-authentik-auth-callback=false&X-authentik-auth-callback=true", False),
        ("X-authentik-auth-callback=", False),
        ("X-authentik-auth-callback", False),
        ("x-authentik-auth-callback=true", False),  # the name as written (Go's query keys are case-sensitive)
        ("next=X-authentik-auth-callback=true", False),  # inside another parameter's value
        ("next=%26X-authentik-auth-callback%3Dtrue", False),
        ("X-authentik-auth-callback=true1", False),
        ("", False),
    ],
)
def test_the_callback_and_logout_queries_are_read_as_the_outpost_reads_them(query: str, callback: bool) -> None:
    assert query_says(query, CALLBACK_KEY) is callback
    assert query_says(query.replace(CALLBACK_KEY, LOGOUT_KEY), LOGOUT_KEY) is callback
    assert not query_says(query, LOGOUT_KEY)


def test_a_forward_auth_check_with_the_callback_query_is_the_callback_route() -> None:
    gw = outpost_gateway(entry("app"))
    uri = "/any/page?code=c&state=s&X-authentik-auth-callback=true"
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "app.example.test", "x-forwarded-method": "GET"}
    check = parse_check(gw, Caller.FORWARD_AUTH, {**forwarded, "x-forwarded-uri": uri}, "127.0.0.1", "http")
    assert isinstance(check, BrowserRoute) and check.path == "/outpost.goauthentik.io/callback"
    assert check.original.query == "code=c&state=s&X-authentik-auth-callback=true", "the callback reads it whole"
    plain = parse_check(gw, Caller.FORWARD_AUTH, {**forwarded, "x-forwarded-uri": "/p?next=x"}, "127.0.0.1", "http")
    assert isinstance(plain, Check), "any other query: an ordinary check"
    nginx = {"x-original-url": f"https://app.example.test{uri}", "x-original-method": "GET"}
    assert isinstance(parse_check(gw, Caller.NGINX, nginx, "127.0.0.1", "http"), Check), "nginx cannot redirect"


def test_a_forward_auth_check_with_the_logout_query_is_the_sign_out_route() -> None:
    """Authentik's outpost signs out on ``?X-authentik-logout=true`` on any path (Traefik, Caddy)."""
    gw = outpost_gateway(entry("app"))
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "app.example.test", "x-forwarded-method": "GET"}
    for uri in ("/any/page?X-authentik-logout=true", "/?rd=https%3A%2F%2Felsewhere.test%2F&X-authentik-logout=TRUE"):
        check = parse_check(gw, Caller.FORWARD_AUTH, {**forwarded, "x-forwarded-uri": uri}, "127.0.0.1", "http")
        assert isinstance(check, BrowserRoute) and check.path == "/outpost.goauthentik.io/sign_out", uri
        assert check.original.query == "", "the app's own query (its rd) is not the sign-out's"
        assert check.original.path == uri.split("?")[0] and check.original.host == "app.example.test"
    both = "/p?X-authentik-auth-callback=true&X-authentik-logout=true"
    check = parse_check(gw, Caller.FORWARD_AUTH, {**forwarded, "x-forwarded-uri": both}, "127.0.0.1", "http")
    assert isinstance(check, BrowserRoute) and check.path.endswith("/callback"), "the callback first, as the outpost"
    for uri in ("/p?X-authentik-logout=false", "/p?next=X-authentik-logout=true"):
        check = parse_check(gw, Caller.FORWARD_AUTH, {**forwarded, "x-forwarded-uri": uri}, "127.0.0.1", "http")
        assert isinstance(check, Check), uri
    nginx = {"x-original-url": "https://app.example.test/?X-authentik-logout=true", "x-original-method": "GET"}
    assert isinstance(parse_check(gw, Caller.NGINX, nginx, "127.0.0.1", "http"), Check), "nginx cannot redirect"
