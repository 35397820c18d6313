"""Access rules, pinned where mutation testing found them loose (docs/testing.md)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from app.config import AppRule
from app.policy import UNVERIFIED_EMAIL, AccessRule, HostRules, Policy, Public, skip_rule
from app.types import Identity

GROUPS_REFUSAL = "this account is in none of the groups this application admits"
USERS_REFUSAL = "this account is not on the list of users this application admits"
DOMAIN_REFUSAL = "this account's email address is not in a domain this application admits"


def rules(*skip: str) -> HostRules:
    return HostRules(AccessRule.build(), tuple(skip_rule(r, "t") for r in skip))


def is_public(host: HostRules, method: str, path: str) -> bool:
    return isinstance(host.decide(method, path), Public)


def who(**claims: Any) -> Identity:
    claims.setdefault("sub", "s-1")
    claims.setdefault("email_verified", True)
    return Identity(**claims)


def test_each_refusal_says_which_rule_refused() -> None:
    rule = AccessRule.build(groups=["admins"], users=["alice"], email_domains=["corp.test"])
    assert rule.refusal(who(username="alice", email="alice@corp.test")) == GROUPS_REFUSAL
    assert rule.refusal(who(username="bob", email="bob@corp.test", groups=("admins",))) == USERS_REFUSAL
    assert rule.refusal(who(username="alice", email="alice@other.test", groups=("admins",))) == DOMAIN_REFUSAL
    assert rule.refusal(who(username="alice", email="alice@corp.test", groups=("admins",))) is None


def test_the_unverified_email_refusal_names_the_address() -> None:
    rule = AccessRule.build(email_domains=["corp.test"])
    refusal = rule.refusal(who(email="zoe@corp.test", email_verified=False))
    assert refusal == UNVERIFIED_EMAIL.format(email="zoe@corp.test")
    assert "zoe@corp.test" in refusal


@pytest.mark.parametrize("email", ["ALICE@CORP.TEST", "alice@Corp.Test", "a.b+tag@corp.test", "x@a-b.corp.test"])
def test_an_address_in_the_domain_is_admitted_in_any_case(email: str) -> None:
    rule = AccessRule.build(email_domains=["corp.test", "a-b.corp.test"])
    assert rule.refusal(who(email=email)) is None


@pytest.mark.parametrize("email", ["a@b@corp.test", "@corp.test", "a b@corp.test", "a\tb@corp.test", "a\x7f@corp.test"])
def test_a_malformed_local_part_never_matches(email: str) -> None:
    rule = AccessRule.build(email_domains=["corp.test"], unverified_email_ok=True)
    assert rule.refusal(who(email=email)) == DOMAIN_REFUSAL


@pytest.mark.parametrize("path", ["/PUBLIC/x", "/Public/x", "/public"])
def test_skip_rules_are_case_sensitive_and_exact(path: str) -> None:
    rule = rules("^/public/", "GET=^/health$")
    assert not is_public(rule, "GET", path)
    assert not is_public(rule, "GET", "/HEALTH")
    assert is_public(rule, "GET", "/public/x")


def test_a_skip_rule_searches_the_whole_path() -> None:
    rule = rules("GET=/health$")
    assert is_public(rule, "GET", "/app/health")
    assert not is_public(rule, "POST", "/app/health")


# --- Policy.from_settings -----------------------------------------------------------------------


def settings(**overrides: Any) -> Any:
    base: dict[str, Any] = {
        "allow_unverified_email": False,
        "allowed_groups": [],
        "allowed_users": [],
        "allowed_email_domains": [],
        "skip_auth": [],
        "apps": [],
    }
    return SimpleNamespace(**{**base, **overrides})


def app_rule(host: str, **overrides: Any) -> Any:
    return AppRule.model_validate({"host": host, **overrides})


UNVERIFIED = Identity(sub="s", username="u", email="u@corp.test", groups=("staff",), email_verified=False)


@pytest.mark.parametrize("opt_in", [True, False])
def test_the_unverified_email_opt_in_reaches_every_rule(opt_in: bool) -> None:
    policy = Policy.from_settings(
        settings(allow_unverified_email=opt_in, allowed_email_domains=["corp.test"], apps=[app_rule("app.test")])
    )
    assert policy.for_host("other.test").default.allows(UNVERIFIED) is opt_in
    assert policy.for_host("app.test").default.allows(UNVERIFIED) is opt_in


def test_an_app_inherits_what_it_does_not_set_and_replaces_what_it_does() -> None:
    policy = Policy.from_settings(
        settings(
            allowed_groups=["admins"],
            allowed_users=["u"],
            allowed_email_domains=["corp.test"],
            skip_auth=["^/health$"],
            apps=[
                app_rule("Inherit.Test"),
                app_rule("replace.test", allowed_groups=["staff"], allowed_users=[], allowed_email_domains=[]),
                app_rule("domains.test", allowed_email_domains=["other.test"], skip_auth=["^/public/"]),
            ],
        )
    )
    staff = Identity(sub="s", username="x", email="x@other.test", groups=("staff",), email_verified=True)
    admin = Identity(sub="a", username="u", email="u@corp.test", groups=("admins",), email_verified=True)
    inherit = policy.for_host("inherit.test")
    assert inherit.default.allows(admin) and not inherit.default.allows(staff)
    replace = policy.for_host("replace.test")
    assert replace.default.allows(staff) and not replace.default.allows(admin)
    domains = policy.for_host("domains.test")
    assert not domains.default.allows(admin), "the app's domains replace the global ones"
    assert domains.default.allows(
        Identity(sub="a", username="u", email="u@other.test", groups=("admins",), email_verified=True)
    )
    assert is_public(domains, "GET", "/public/x") and is_public(domains, "GET", "/health")
    assert not is_public(inherit, "GET", "/public/x") and is_public(inherit, "GET", "/health")
    assert policy.for_host("nothing.test") is policy.default
    assert is_public(policy.default, "GET", "/health"), "the global skip rules make the global rule"
    assert not policy.default.default.allows(staff) and policy.default.default.allows(admin)


# --- the canonical path, case and the kept verdict (issue 19) ------------------------------------


def host_with(*patterns: str, ignore_case: bool = False, methods: frozenset[str] | None = None) -> HostRules:
    from app.policy import Deny, PathRule

    rules = tuple(PathRule(p, methods, Deny(f"deny {p}")) for p in patterns)
    return HostRules(AccessRule.build(name="the host's lists"), rules, ignore_case=ignore_case)


def test_a_case_insensitive_host_matches_every_case_of_the_pattern_and_the_path() -> None:
    from app.policy import Deny

    nocase = host_with("^/Admin", ignore_case=True)
    for path in ("/admin", "/ADMIN/x", "/aDmIn"):
        assert isinstance(nocase.decide("GET", path), Deny), path
    assert not isinstance(host_with("^/Admin").decide("GET", "/admin"), Deny), "case-sensitive by default"


def test_an_app_entry_with_case_insensitive_paths_makes_a_host_that_ignores_case() -> None:
    from app.config import Settings

    apps = [
        {"host": "iis.test", "case_insensitive_paths": True, "rules": [{"path": "^/admin", "policy": "deny"}]},
        {"host": "app.test", "rules": [{"path": "^/admin", "policy": "deny"}]},
    ]
    policy = Policy.from_settings(Settings(apps=apps))
    assert policy.for_host("iis.test").ignore_case and not policy.for_host("app.test").ignore_case
    assert policy.for_host("iis.test").decide("GET", "/ADMIN").name == "host iis.test rule 1 (path ^/admin)"


def parsed(path: str, method: str = "GET") -> Any:
    from app.types import OriginalRequest

    return OriginalRequest("https", "app.test", path, "", method)


def test_the_verdict_is_kept_on_the_parsed_request_for_the_rules_that_gave_it() -> None:
    host = host_with("^/internal/")
    request = parsed("//internal/x")
    first = host.verdict_for(request)
    assert request.decided == (host, first)
    assert host.verdict_for(request) is first, "a URL seen before matches no regex"
    reloaded = HostRules(AccessRule.build(name="reloaded"))
    assert reloaded.verdict_for(request).name == "reloaded", "new rules decide again"
    assert request.decided is not None and request.decided[0] is reloaded


def test_an_ambiguous_verdict_is_worked_out_once_per_parsed_request() -> None:
    from app.policy import PathRule

    admins = AccessRule.build(groups=["admins"], name="admins")
    host = HostRules(AccessRule.build(name="lists"), (PathRule("^/admin", None, admins),))
    request = parsed("//admin/")
    kept = host.verdict_for(request)
    assert kept.name == "every rule an ambiguous path could reach: admins; lists"
    assert host.verdict_for(request) is kept, "not built again"


def test_the_kept_verdict_is_for_the_requests_own_method() -> None:
    host = host_with("^/hook", methods=frozenset({"POST"}))
    assert host.verdict_for(parsed("/hook", "POST")).name == "deny ^/hook"
    assert host.verdict_for(parsed("/hook", "GET")).name == "the host's lists"
