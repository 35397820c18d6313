"""Who may pass and which routes are public (ALLOWED_*, SKIP_AUTH, per-app rules)."""

from __future__ import annotations

import pytest

from app.errors import ConfigError
from app.forwarded import from_forwarded
from app.policy import AccessRule, HostRules, Policy, Public, skip_rule
from app.types import Identity, OriginalRequest

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
