"""Who may pass and which routes are public (ALLOWED_*, SKIP_AUTH, per-app rules)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from authgate.access.forwarded import from_forwarded
from authgate.access.policy import HostRules, Policy, skip_rule
from authgate.access.refusals import UNVERIFIED_EMAIL, either
from authgate.access.request import OriginalRequest
from authgate.access.verdicts import AccessRule, Public
from authgate.config import AppRule
from authgate.errors import ConfigError
from authgate.model import Identity

ALICE = Identity(
    sub="sub-alice", username="alice", email="alice@corp.test", groups=("admins", "dev"), email_verified=True
)
BOB = Identity(sub="sub-bob", username="bob", email="Bob@Partner.TEST", groups=("users",), email_verified=True)
NOBODY = Identity(sub="sub-x")


def rules(*skip: str, **lists: list[str]) -> HostRules:
    """A host's rules in the short form: allow-lists and public routes (``skip_auth``)."""
    return HostRules(AccessRule.build(**lists), tuple(skip_rule(r, "test") for r in skip))


def is_public(host: HostRules, method: str, path: str) -> bool:
    return isinstance(host.decide(method, path), Public)


# --- skip_rule ------------------------------------------------------------------------------------


def matches(rule: str, method: str, path: str) -> bool:
    """Whether the short-form public route ``rule`` opens ``path`` for ``method``."""
    return is_public(rules(rule), method, path)


def test_skip_rule_with_method() -> None:
    rule = skip_rule("POST=^/hooks/", "t")
    assert rule.methods == {"POST"}
    assert rule.pattern == "^/hooks/"
    assert matches("POST=^/hooks/", "POST", "/hooks/github")
    assert not matches("POST=^/hooks/", "GET", "/hooks/github")
    assert not matches("POST=^/hooks/", "POST", "/api/hooks/github")


def test_skip_rule_without_method_matches_every_method() -> None:
    rule = skip_rule("^/status$", "t")
    assert rule.methods is None
    for method in ("GET", "HEAD", "POST", "DELETE"):
        assert matches("^/status$", method, "/status")
    assert not matches("^/status$", "GET", "/status/admin")
    assert not matches("^/status$", "GET", "/statuses")


def test_skip_rule_is_an_unanchored_search() -> None:
    assert matches("/public/", "GET", "/app/public/x")
    assert not matches("/public/", "GET", "/private")


def test_skip_rule_regex_may_contain_equals() -> None:
    rule = skip_rule("GET=^/a=b$", "t")
    assert rule.methods == {"GET"}
    assert matches("GET=^/a=b$", "GET", "/a=b")
    plain = skip_rule("^/x=y", "t")  # not a METHOD= prefix: the whole string is the regex
    assert plain.methods is None
    assert matches("^/x=y", "PUT", "/x=y")


def test_skip_rule_lowercase_prefix_is_not_a_method() -> None:
    rule = skip_rule("get=^/x", "t")
    assert rule.methods is None
    assert not matches("get=^/x", "GET", "/x")


def test_a_bad_regex_is_refused_when_the_rules_are_built() -> None:
    with pytest.raises(ConfigError, match="is not a valid regular expression"):
        rules("GET=^/(unclosed")
    with pytest.raises(ConfigError, match="RE2 has no lookahead"):
        rules("^/(?!public/)")


# --- AccessRule.allows ---------------------------------------------------------------------------


def test_empty_rule_allows_anyone() -> None:
    rule = AccessRule.build()
    assert rule.allows(ALICE)
    assert rule.allows(NOBODY)


def test_groups() -> None:
    rule = AccessRule.build(groups=["admins", "ops"])
    assert rule.allows(ALICE)
    assert not rule.allows(BOB)
    assert not rule.allows(NOBODY)


def test_users_match_username_or_sub() -> None:
    rule = AccessRule.build(users=["alice", "sub-bob"])
    assert rule.allows(ALICE)
    assert rule.allows(BOB)
    assert not rule.allows(NOBODY)
    assert not rule.allows(Identity(sub="alice2", username="alicex"))


def test_email_domains() -> None:
    rule = AccessRule.build(email_domains=["corp.test", "@PARTNER.test"])
    assert rule.allows(ALICE)
    assert rule.allows(BOB)  # case-insensitive on both sides, leading @ tolerated
    assert not rule.allows(NOBODY)  # no email at all
    assert not rule.allows(Identity(sub="s", email="x@evilcorp.test"))
    assert not rule.allows(Identity(sub="s", email="x@corp.test.evil.test"))
    assert not rule.allows(Identity(sub="s", email="x@"))
    assert not rule.allows(Identity(sub="s", email="@"))


@pytest.mark.parametrize("email", ["corp.test", "CORP.TEST"])
def test_email_without_at_sign_is_not_a_domain(email: str) -> None:
    rule = AccessRule.build(email_domains=["corp.test"])
    assert not rule.allows(Identity(sub="s", email=email))


def test_all_attributes_must_hold() -> None:
    rule = AccessRule.build(groups=["admins"], users=["alice", "bob"], email_domains=["corp.test"])
    assert rule.allows(ALICE)
    assert not rule.allows(BOB)  # right user, wrong group and domain
    assert not rule.allows(Identity(sub="s", username="alice", email="alice@corp.test", groups=()))
    assert not rule.allows(Identity(sub="s", username="carol", email="c@corp.test", groups=("admins",)))


def test_build_accepts_iterators() -> None:
    rule = AccessRule.build(groups=iter(["admins"]), networks=iter(["10.0.0.0/8"]))
    assert rule.refusal(ALICE, "10.1.2.3") is None


# --- public routes (short form) --------------------------------------------------------------------


def test_is_public() -> None:
    rule = rules("POST=^/webhook$", "^/health$", "GET=^/static/")
    assert is_public(rule, "POST", "/webhook")
    assert not is_public(rule, "GET", "/webhook")
    assert is_public(rule, "GET", "/health")
    assert is_public(rule, "DELETE", "/health")
    assert is_public(rule, "GET", "/static/app.css")
    assert not is_public(rule, "HEAD", "/static/app.css")
    assert not is_public(rule, "GET", "/admin")
    assert not is_public(rules(), "GET", "/")


def test_skip_rules_see_the_path_only_not_the_query() -> None:
    rule = rules("^/public/", "GET=/health$")
    original = from_forwarded(
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/admin?next=/public/x&h=/health"},
        default_scheme="https",
    )
    assert not is_public(rule, original.method, original.path)
    public = from_forwarded(
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/public/x?a=1"}, default_scheme="https"
    )
    assert is_public(rule, public.method, public.path)


@pytest.mark.parametrize(
    "path", ["/public/../admin", "/public/%2e%2e/admin", "/public/..%2fadmin", "/public/./../admin"]
)
def test_dot_segments_cannot_escape_a_public_prefix(path: str) -> None:
    rule = rules("^/public/")
    assert not is_public(rule, "GET", path)


# --- Policy / per-host overrides -----------------------------------------------------------------


def test_policy_without_overrides_returns_default() -> None:
    default = rules(groups=["admins"])
    policy = Policy(default)
    assert policy.for_host("anything.test") is default


def test_policy_per_host_overrides() -> None:
    default = rules(groups=["admins"])
    grafana = rules(groups=["users"])
    policy = Policy(default, {"Grafana.Test": grafana})
    assert policy.for_host("grafana.test") is grafana
    assert policy.for_host("grafana.test.") is grafana, "a trailing dot names the same host"
    assert policy.for_host("other.test") is default
    assert policy.for_host("sub.grafana.test") is default
    assert policy.for_host("grafana.test").default.allows(BOB)
    assert not policy.for_host("other.test").default.allows(BOB)


def test_the_rule_for_a_request_ignores_its_port() -> None:
    default = rules(groups=["admins"])
    grafana = rules(groups=["users"])
    policy = Policy(default, {"grafana.test": grafana})
    assert policy.for_request(OriginalRequest("https", "grafana.test:8443", "/", "", "GET")) is grafana
    assert policy.for_request(OriginalRequest("https", "grafana.test", "/", "", "GET")) is grafana
    assert policy.for_request(OriginalRequest("https", "other.test:8443", "/", "", "GET")) is default
    assert Policy(default).for_request(OriginalRequest("https", "grafana.test:8443", "/", "", "GET")) is default


def test_a_policy_of_a_global_rule_and_per_host_ones() -> None:
    status = rules("^/")
    global_rule = rules("POST=^/hook", groups=["admins"], email_domains=["corp.test"])
    policy = Policy(global_rule, {"status.test": status})
    default = policy.for_host("app.test")
    assert default.default.allows(ALICE)
    assert not default.default.allows(BOB)
    assert is_public(default, "POST", "/hook")
    assert not is_public(default, "GET", "/hook")
    assert policy.for_host("status.test") is status
    assert is_public(policy.for_host("status.test"), "GET", "/anything")


# --- Claims that decide access --------------------------------------------------------------------

UNVERIFIED = Identity(sub="s", username="u", email="u@corp.test", email_verified=False)


@pytest.mark.parametrize(
    ("email", "why"),
    [
        ("a@b@corp.test", "two @"),
        ("@corp.test", "empty local part"),
        ("a b@corp.test", "a space"),
        ("a@corp.test.", "a trailing dot"),
        ("a@-corp.test", "a label starting with -"),
        ("a\n@corp.test", "a control character"),
    ],
)
def test_only_a_single_well_formed_address_matches_a_domain(email: str, why: str) -> None:
    rule = AccessRule.build(email_domains=["corp.test"], unverified_email_ok=True)
    assert not rule.allows(Identity(sub="s", email=email, email_verified=True)), why


def test_an_unverified_address_needs_the_operators_opt_in_and_the_refusal_says_how() -> None:
    strict = AccessRule.build(email_domains=["corp.test"])
    why = strict.refusal(UNVERIFIED)
    assert why is not None
    assert "email_verified" in why and "AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true" in why and "scope mapping" in why
    assert AccessRule.build(email_domains=["corp.test"], unverified_email_ok=True).allows(UNVERIFIED)
    assert AccessRule.build(groups=[]).allows(UNVERIFIED), "no email rule: verification does not matter"


def test_email_verified_is_read_from_the_claims_strictly() -> None:
    for claim, verified in ((True, True), ("true", True), (False, False), ("false", False), (1, False), (None, False)):
        assert Identity.from_claims({"sub": "s", "email_verified": claim}).email_verified is verified, claim


def test_sub_prefixed_users_match_the_subject_only() -> None:
    rule = AccessRule.build(users=["sub:1234-abcd"])
    assert rule.allows(Identity(sub="1234-abcd", username="anything"))
    assert not rule.allows(Identity(sub="other", username="1234-abcd")), "a username cannot claim a subject"
    assert not rule.allows(Identity(sub="other", username="sub:1234-abcd"))


# --- Pinned where mutation testing found the tests loose (docs/testing.md) ---
# Access rules, pinned where mutation testing found them loose (docs/testing.md).


GROUPS_REFUSAL = "only members of the group admins may open this application"
USERS_REFUSAL = "only the users this application lists by name may open it, and this account is not one of them"
DOMAIN_REFUSAL = "only accounts with an email address at corp.test may open this application"


def skip_rules(*skip: str) -> HostRules:
    return HostRules(AccessRule.build(), tuple(skip_rule(r, "t") for r in skip))


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


@pytest.mark.parametrize(
    ("names", "words"),
    [
        ((), ""),
        (("a",), "a"),
        (("a", "b"), "a or b"),
        (("a", "b", "c"), "a, b or c"),
        (("a", "b", "c", "d"), "a, b, c or d"),
    ],
)
def test_either_names_what_would_admit_in_plain_words(names: tuple[str, ...], words: str) -> None:
    assert either(names) == words


def test_a_refusal_names_every_group_and_domain_that_would_admit() -> None:
    groups = AccessRule.build(groups=["ops", "admins"])
    assert (
        groups.refusal(who(groups=("guests",))) == "only members of the groups admins or ops may open this application"
    )
    domains = AccessRule.build(email_domains=["corp.test", "Ops.Test"])
    assert domains.refusal(who(email="x@else.test")) == (
        "only accounts with an email address at corp.test or ops.test may open this application"
    )


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
    rule = skip_rules("^/public/", "GET=^/health$")
    assert not is_public(rule, "GET", path)
    assert not is_public(rule, "GET", "/HEALTH")
    assert is_public(rule, "GET", "/public/x")


def test_a_skip_rule_searches_the_whole_path() -> None:
    rule = skip_rules("GET=/health$")
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


UNVERIFIED_STAFF = Identity(sub="s", username="u", email="u@corp.test", groups=("staff",), email_verified=False)


@pytest.mark.parametrize("opt_in", [True, False])
def test_the_unverified_email_opt_in_reaches_every_rule(opt_in: bool) -> None:
    policy = Policy.from_settings(
        settings(allow_unverified_email=opt_in, allowed_email_domains=["corp.test"], apps=[app_rule("app.test")])
    )
    assert policy.for_host("other.test").default.allows(UNVERIFIED_STAFF) is opt_in
    assert policy.for_host("app.test").default.allows(UNVERIFIED_STAFF) is opt_in


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
    from authgate.access.policy import PathRule
    from authgate.access.verdicts import Deny

    rules = tuple(PathRule(p, methods, Deny(f"deny {p}")) for p in patterns)
    return HostRules(AccessRule.build(name="the host's lists"), rules, ignore_case=ignore_case)


def test_a_case_insensitive_host_matches_every_case_of_the_pattern_and_the_path() -> None:
    from authgate.access.verdicts import Deny

    nocase = host_with("^/Admin", ignore_case=True)
    for path in ("/admin", "/ADMIN/x", "/aDmIn"):
        assert isinstance(nocase.decide("GET", path), Deny), path
    assert not isinstance(host_with("^/Admin").decide("GET", "/admin"), Deny), "case-sensitive by default"


def test_an_app_entry_with_case_insensitive_paths_makes_a_host_that_ignores_case() -> None:
    from authgate.config import Settings

    apps = [
        {"host": "iis.test", "case_insensitive_paths": True, "rules": [{"path": "^/admin", "policy": "deny"}]},
        {"host": "app.test", "rules": [{"path": "^/admin", "policy": "deny"}]},
    ]
    policy = Policy.from_settings(Settings(apps=apps))
    assert policy.for_host("iis.test").ignore_case and not policy.for_host("app.test").ignore_case
    assert policy.for_host("iis.test").decide("GET", "/ADMIN").name == "host iis.test rule 1 (path ^/admin)"


def parsed(path: str, method: str = "GET") -> Any:
    from authgate.access.request import OriginalRequest

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
    from authgate.access.policy import PathRule

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
