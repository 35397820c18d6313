"""Access rules v2: host entries (exact, wildcard), ordered path rules, networks, ambiguous paths,
the rules file's problems, ``authgate rules explain`` and the reload of the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authgate.access.policy import Policy
from authgate.access.refusals import OUTSIDE_NETWORKS
from authgate.access.verdicts import GLOBAL, AccessRule, AllOf, Deny, Public
from authgate.cli.explain import explain
from authgate.config import Settings, load_rules
from authgate.model import Identity
from authgate.observability import metrics
from authgate.wiring.reload import RulesReloader

OPS = Identity(sub="s-ops", username="olga", email="olga@corp.test", groups=("ops", "staff"), email_verified=True)
STAFF = Identity(sub="s-staff", username="sam", email="sam@corp.test", groups=("staff",), email_verified=True)

RULES: list[dict[str, Any]] = [
    {
        "host": "app.test",
        "groups": ["staff"],
        "rules": [
            {"path": "^/api/health$", "methods": ["GET", "HEAD"], "policy": "public"},
            {"path": "^/admin", "groups": ["ops"], "networks": ["10.0.0.0/8", "2001:db8::/32"]},
            {"path": "^/internal/", "policy": "deny"},
            {"path": "^/webhook$", "methods": ["POST"], "users": ["sub:s-bot"]},
        ],
        "skip_auth": ["^/static/"],
    },
    {"host": "*.example.test", "groups": ["wild"]},
    {"host": ["*.a.example.test", "other.test"], "allowed_groups": ["deeper"]},
    {"host": "exact.example.test", "groups": ["exact"]},
]


def policy(apps: list[dict[str, Any]] = RULES, **global_settings: Any) -> Policy:
    settings = Settings(apps=apps, **global_settings)
    return Policy.from_settings(settings)


# --- hosts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "groups"),
    [
        ("exact.example.test", {"exact"}),  # exact beats the wildcard
        ("b.example.test", {"wild"}),  # one label below
        ("x.y.example.test", {"wild"}),  # two labels below: still the wildcard
        ("a.example.test", {"wild"}),  # *.a.example.test is one label below a.example.test, not it
        ("b.a.example.test", {"deeper"}),  # the longer wildcard wins
        ("c.b.a.example.test", {"deeper"}),
        ("other.test", {"deeper"}),  # a list of hosts shares one entry
        ("example.test", {"g"}),  # a wildcard never matches its own base
        ("notexample.test", {"g"}),  # nor a name that merely ends the same
        ("example.test.evil.test", {"g"}),
        ("exact.example.test.", {"exact"}),  # a trailing dot names the same host
        ("b.example.test.", {"wild"}),
    ],
)
def test_hosts_exact_first_then_the_longest_wildcard(host: str, groups: set[str]) -> None:
    p = policy(allowed_groups=["g"])
    assert p.for_host(host).default.groups == groups


def test_without_a_rules_file_the_request_gets_the_global_rules_untouched() -> None:
    from authgate.access.request import OriginalRequest

    p = policy([], skip_auth=["^/public/"])
    request = OriginalRequest("https", "app.test", "/", "", "GET")
    assert p.for_request(request) is p.default
    assert p.exact == {} and p.wildcards == {}, "no per-host work at all without a rules file"


# --- path rules, first match wins ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "verdict", "name"),
    [
        ("GET", "/api/health", Public, "host app.test rule 1 (path ^/api/health$)"),
        ("HEAD", "/api/health", Public, "host app.test rule 1 (path ^/api/health$)"),
        ("POST", "/api/health", AccessRule, "host app.test (its allow-lists)"),  # method not listed
        ("", "/api/health", AccessRule, "host app.test (its allow-lists)"),  # method unknown: never matches
        ("GET", "/api/health/x", AccessRule, "host app.test (its allow-lists)"),
        ("GET", "/admin/users", AccessRule, "host app.test rule 2 (path ^/admin)"),
        ("GET", "/internal/x", Deny, "host app.test rule 3 (path ^/internal/)"),
        ("GET", "/internal%2Fx", Deny, "host app.test rule 3 (path ^/internal/), which an ambiguous path could reach"),
        ("POST", "/webhook", AccessRule, "host app.test rule 4 (path ^/webhook$)"),
        ("GET", "/static/app.css", Public, "host app.test skip_auth `^/static/`"),
        ("GET", "/public/x", Public, "AUTHGATE_SKIP_AUTH `^/public/`"),
        ("GET", "/", AccessRule, "host app.test (its allow-lists)"),
        (
            "GET",
            "/static/../admin",
            AllOf,
            "every rule an ambiguous path could reach: host app.test rule 2 (path ^/admin); host app.test "
            "(its allow-lists)",
        ),
        ("GET", "//internal//x", Deny, "host app.test rule 3 (path ^/internal/), which an ambiguous path could reach"),
        (
            "GET",
            "//admin/",
            AllOf,
            "every rule an ambiguous path could reach: host app.test rule 2 (path ^/admin); "
            "host app.test (its allow-lists)",
        ),
    ],
)
def test_the_first_matching_rule_decides_and_names_itself(method: str, path: str, verdict: type, name: str) -> None:
    found = policy(skip_auth=["^/public/"]).for_host("app.test").decide(method, path)
    assert type(found) is verdict
    assert found.name == name


def test_rule_lists_replace_the_hosts_and_absent_ones_inherit() -> None:
    host = policy().for_host("app.test")
    admin = host.decide("GET", "/admin")
    assert isinstance(admin, AccessRule)
    assert admin.groups == {"ops"}
    assert admin.refusal(OPS, "10.1.2.3") is None and admin.refusal(STAFF, "10.1.2.3") is not None
    assert admin.refusal(OPS) == OUTSIDE_NETWORKS.format(ip="unknown"), "no address given: unknown"
    webhook = host.decide("POST", "/webhook")
    assert isinstance(webhook, AccessRule)
    assert webhook.groups == {"staff"}, "absent in the rule: the host's list"
    assert webhook.subjects == {"s-bot"} and webhook.users == frozenset()


@pytest.mark.parametrize(
    ("ip", "admitted"),
    [
        ("10.0.0.5", True),
        ("10.255.255.255", True),
        ("2001:db8::1", True),
        ("11.0.0.1", False),
        ("192.168.0.5", False),
        ("2001:db9::1", False),
        ("", False),  # unknown: in no network
        ("not-an-ip", False),
        ("10.0.0.5, 10.0.0.6", False),
    ],
)
def test_networks_admit_only_a_known_address_inside_them(ip: str, admitted: bool) -> None:
    admin = policy().for_host("app.test").decide("GET", "/admin")
    assert isinstance(admin, AccessRule)
    why = admin.refusal(OPS, ip)
    assert (why is None) is admitted
    if not admitted:
        assert why == OUTSIDE_NETWORKS.format(ip=ip or "unknown")


def test_an_ambiguous_path_meets_every_allow_rule_that_could_apply() -> None:
    apps = [
        {
            "host": "app.test",
            "groups": ["staff"],
            "rules": [
                {"path": "^/public/", "policy": "public"},
                {"path": "^/admin", "groups": ["ops"], "networks": ["10.0.0.0/8"]},
                {"path": "^/api/", "methods": ["POST"], "policy": "deny"},
            ],
        }
    ]
    host = policy(apps).for_host("app.test")
    found = host.decide("GET", "/public/..;/admin")
    assert isinstance(found, AllOf)
    assert found.networks, "the client's address is worked out for it"
    assert found.name == (
        "every rule an ambiguous path could reach: host app.test rule 2 (path ^/admin); host app.test (its allow-lists)"
    )
    assert found.refusal(OPS, "10.0.0.1") is None
    assert found.refusal(OPS, "192.0.2.1") is not None, "the admin rule's networks hold"
    assert found.refusal(STAFF, "10.0.0.1") is not None, "the admin rule's group holds"
    denied = host.decide("POST", "/public/..;/api/x")
    assert isinstance(denied, Deny), "a deny rule for the method refuses an ambiguous path"
    plain = policy([{"host": "app.test", "rules": [{"path": "^/x", "policy": "public"}]}]).for_host("app.test")
    assert plain.decide("GET", "/x/../y") is plain.default, "public rules only: the host's lists, as before"


def test_a_catch_all_rule_ends_what_an_ambiguous_path_could_reach() -> None:
    apps = [
        {
            "host": "app.test",
            "rules": [
                {"path": "^/admin", "groups": ["ops"]},
                {"groups": ["staff"]},
                {"path": "^/never", "policy": "deny"},
            ],
        }
    ]
    host = policy(apps).for_host("app.test")
    found = host.decide("GET", "/a/..;/admin")
    assert isinstance(found, AllOf)
    assert [r.groups for r in found.rules] == [{"ops"}, {"staff"}]
    assert host.decide("GET", "/anything").name == "host app.test rule 2"
    assert host.decide("GET", "/never").name == "host app.test rule 2", "after a catch-all nothing is reached"


def test_a_path_rule_inherits_what_it_leaves_out_from_its_host() -> None:
    apps = [
        {
            "host": "app.test",
            "users": ["sub:s-ops", "olga"],
            "email_domains": ["corp.test"],
            "rules": [{"path": "^/a", "groups": ["ops"]}, {"path": "^/b", "email_domains": ["other.test"]}],
        }
    ]
    host = policy(apps, allow_unverified_email=True).for_host("app.test")
    a = host.decide("GET", "/a")
    assert isinstance(a, AccessRule)
    assert a.subjects == {"s-ops"} and a.users == {"olga"} and a.email_domains == ("corp.test",)
    unverified = Identity(sub="s-ops", email="x@corp.test", groups=("ops",), email_verified=False)
    assert a.refusal(unverified) is None, "AUTHGATE_ALLOW_UNVERIFIED_EMAIL reaches path rules"
    assert host.decide("GET", "/b").refusal(unverified) is not None, "the rule's own domains replace the host's"
    strict = policy(apps).for_host("app.test").decide("GET", "/a")
    assert strict.refusal(unverified) is not None


def test_a_network_may_be_written_with_host_bits() -> None:
    rule = AccessRule.build(networks=["10.1.2.3/8", "192.0.2.7"])
    assert rule.refusal(OPS, "10.200.0.1") is None
    assert rule.refusal(OPS, "192.0.2.7") is None and rule.refusal(OPS, "192.0.2.8") is not None


def test_the_global_rule_is_named() -> None:
    assert policy([]).default.default.name == GLOBAL


# --- the rules file -----------------------------------------------------------------------------

GOOD_TOML = """
[[apps]]
host = ["App.Test", "*.example.test"]
groups = ["staff"]
rules = [
  { path = "^/api/", methods = ["GET"], policy = "public" },
  { path = "^/admin", groups = ["ops"], networks = ["10.0.0.0/8"] },
  { path = "^/internal", policy = "deny" },
]
"""


def test_a_good_file_loads(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(GOOD_TOML)
    problems: list[str] = []
    (app,) = load_rules(str(f), problems)
    assert problems == []
    assert app.hosts == ["app.test", "*.example.test"]
    assert [r.policy for r in app.rules] == ["public", None, "deny"]


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ('host = "a.test"\nbogus = 1', "apps[0].bogus: unknown key (known: host, groups"),
        ('host = "a.test"\nrules = [{ pth = "^/" }]', "apps[0].rules[0].pth: unknown key (known: path, methods"),
        (
            'host = "a.test"\nrules = [{ path = "(" }]',
            "apps[0].rules[0].path (host a.test rule 1): '(' is not a valid regular expression",
        ),
        (
            'host = "a.test"\nrules = [{ methods = ["get"] }]',
            "apps[0].rules[0].methods (host a.test rule 1): methods must be upper-case",
        ),
        ('host = "a.test"\nrules = [{ methods = [] }]', "apps[0].rules[0].methods (host a.test rule 1): methods must"),
        ('host = "a.test"\nrules = [{ networks = ["10.0.0.0/33"] }]', "'10.0.0.0/33' is not an IP address or CIDR"),
        ('host = "a.test"\nrules = [{ policy = "allow" }]', "apps[0].rules[0].policy"),
        ('host = "a.test"\nrules = [{ policy = "deny", groups = ["x"] }]', "it cannot have groups"),
        ('host = "a.test"\nrules = [{ policy = "public", networks = ["10.0.0.0/8"] }]', "it cannot have networks"),
        ('host = "a.test"\ngroups = ["a"]\nallowed_groups = ["b"]', "both `groups` and `allowed_groups` are set"),
        ('host = "a.test"\nallowed_groups = "x"', "apps[0].allowed_groups: Input should be a valid list"),
        (
            'host = "a.test"\nskip_auth = ["GET=("]',
            "apps[0].skip_auth (host a.test skip_auth): '(' is not a valid regular expression",
        ),
        ('host = "*.*.test"', "must be a bare host name"),
        ('host = "a.*.test"', "must be a bare host name"),
        ('host = "*"', "must be a bare host name"),
        ("host = []", "names no host"),
        ('host = ["a.test", "A.test"]', "'a.test' is listed twice"),
    ],
)
def test_every_problem_names_the_file_entry_and_key(tmp_path: Path, entry: str, needle: str) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(f"[[apps]]\n{entry}\n")
    problems: list[str] = []
    load_rules(str(f), problems)
    assert any(p.startswith(f"AUTHGATE_CONFIG={f}: ") and needle in p for p in problems), problems


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text('[[apps]]\nhost = "a.test"\nrules = [{ path = "(" }, { methods = ["x"] }]\nbad = 1\n[[apps]]\n')
    problems: list[str] = []
    assert load_rules(str(f), problems) == []
    assert len(problems) == 4, problems  # rules[0].path, rules[1].methods, bad, apps[1].host
    g = tmp_path / "top.toml"
    g.write_text("apps = []\nhosts = []\n")
    top: list[str] = []
    load_rules(str(g), top)
    assert any("unknown key(s) 'hosts'" in p for p in top), top


# --- authgate rules explain ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "args", "status", "rule", "decision"),
    [
        ("https://app.test/api/x", {}, 0, "host app.test (and 1 more) rule 1 (path ^/api/)", "public"),
        ("https://app.test/internal", {"user": "olga", "groups": ("ops",)}, 1, "rule 3 (path ^/internal)", "deny"),
        ("https://b.example.test/admin", {"user": "olga", "groups": ("ops",), "ip": "10.0.0.5"}, 0, "rule 2", "allow"),
        (
            "https://b.example.test/admin",
            {"user": "olga", "groups": ("ops",), "ip": "192.0.2.1"},
            1,
            "rule 2",
            "refuse",
        ),
        ("https://app.test/admin", {"user": "sam", "groups": ("staff",), "ip": "10.0.0.5"}, 1, "rule 2", "refuse"),
        ("https://app.test/", {"user": "sam", "groups": ("staff",)}, 0, "(its allow-lists)", "allow"),
        ("https://app.test/api/x", {"method": "post", "groups": ("x",)}, 1, "(its allow-lists)", "refuse"),
        ("https://other.test/", {"groups": ("admins",)}, 0, GLOBAL, "allow"),
        ("https://other.test/", {}, 1, GLOBAL, "refuse"),
        ("https://other.test/health", {}, 0, "AUTHGATE_SKIP_AUTH `^/health$`", "public"),
    ],
)
def test_explain_prints_the_rule_and_the_decision(
    tmp_path: Path, url: str, args: dict[str, Any], status: int, rule: str, decision: str
) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(GOOD_TOML)
    environ = {"AUTHGATE_ALLOWED_GROUPS": "admins", "AUTHGATE_SKIP_AUTH": "^/health$", "AUTHGATE_CONFIG": str(f)}
    code, lines = explain(url, environ=environ, **args)
    text = "\n".join(lines)
    assert code == status, text
    rule_line = next(line for line in lines if line.startswith("rule:"))
    assert rule in rule_line, text
    assert next(line for line in lines if line.startswith("decision:")).split()[1].startswith(decision), text


def test_explain_reports_a_bad_file_or_url(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text('[[apps]]\nhost = "a.test"\nbogus = 1\n')
    code, lines = explain("https://a.test/", file=str(f), environ={})
    assert code == 2 and "apps[0].bogus: unknown key" in lines[0]
    code, lines = explain("a.test/x", environ={})
    assert code == 2 and "not an absolute http(s) URL" in lines[0]
    code, lines = explain("https://bad host/", environ={})
    assert code == 2


def test_explain_says_which_path_the_rules_matched_and_how(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(
        '[[apps]]\nhost = "iis.test"\ncase_insensitive_paths = true\nrules = [{ path = "^/admin", groups = ["ops"] }]\n'
        '[[apps]]\nhost = "app.test"\nrules = [{ path = "^/admin", groups = ["ops"] }]\n'
    )

    def lines(url: str) -> dict[str, str]:
        code, out = explain(url, user="bob", groups=("guests",), file=str(f), environ={})
        assert code == 1, out
        return {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out}

    plain = lines("https://app.test/admin/")
    assert plain["path"] == "/admin/"
    assert plain["case"] == "rules match case-sensitively (the host entry does not say case_insensitive_paths = true)"
    iis = lines("https://iis.test/ADMIN/")
    assert iis["path"] == "/ADMIN/" and "rule 1 (path ^/admin)" in iis["rule"]
    assert iis["case"] == "rules ignore case (the host entry says case_insensitive_paths = true)"
    walked = lines("https://app.test//admin/")
    assert walked["path"].startswith("/admin/ (as sent: //admin/); ambiguous: never public, and the rule of every ")
    assert walked["path"].endswith("reading must admit: /admin/, //admin/")
    assert "host app.test rule 1 (path ^/admin)" in walked["rule"]
    code, out = explain("https://other.test/caf\u00e9", file=str(f), environ={})
    assert code == 0
    assert "path:       /café (as sent: /caf%C3%A9)" in out, "sent as a browser sends it, encoded"
    assert "case:       rules match case-sensitively (the global rules always do)" in out


def test_the_cli_runs_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from authgate.cli.main import main

    f = tmp_path / "rules.toml"
    f.write_text(GOOD_TOML)
    argv = [
        "rules",
        "explain",
        "https://app.test/admin",
        "--user",
        "olga",
        "--groups",
        "ops, staff",
        "--ip",
        "10.0.0.5",
    ]
    assert main([*argv, "--file", str(f)]) == 0
    out = capsys.readouterr().out
    assert "rule:       host app.test (and 1 more) rule 2 (path ^/admin)" in out
    assert "decision:   allow" in out


# --- reload ------------------------------------------------------------------------------------


def test_a_reload_swaps_the_policy_only_when_the_file_is_good(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text('[[apps]]\nhost = "a.test"\ngroups = ["one"]\n')
    settings = Settings(config=str(f), skip_auth=["^/public/"], apps=[])
    applied: list[Policy] = []
    reloader = RulesReloader(settings, lambda policy, _apps: applied.append(policy))
    assert not reloader.changed()
    f.write_text('[[apps]]\nhost = "a.test"\ngroups = ["two"]\n')
    assert reloader.reload("test")
    assert applied[-1].for_host("a.test").default.groups == {"two"}
    assert isinstance(applied[-1].for_host("a.test").decide("GET", "/public/x"), Public), "env settings stay"
    assert reloader.error == "" and metrics.registry.get_sample_value("authgate_rules_last_reload_success") == 1
    f.write_text('[[apps]]\nhost = "a.test"\ngroups = ["three"]\nbogus = 1\nrules = [{ path = "(" }]\n')
    assert reloader.changed()
    assert not reloader.reload("test")
    assert len(applied) == 1, "a bad file changes nothing"
    assert reloader.error.startswith("rules reload failed: ")
    assert "apps[0].bogus" in reloader.error and "apps[0].rules[0].path" in reloader.error
    assert metrics.registry.get_sample_value("authgate_rules_last_reload_success") == 0
    assert not reloader.changed(), "the bad version is not read again and again"
    f.unlink()
    assert reloader.changed() and not reloader.reload("test") and "cannot read the file" in reloader.error


def test_a_reload_refuses_a_pattern_re2_cannot_take_naming_the_rule_and_the_fix(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text('[[apps]]\nhost = "a.test"\nrules = [{ path = "^/a" }]\n')
    settings = Settings(config=str(f), apps=[])
    applied: list[Policy] = []
    reloader = RulesReloader(settings, lambda policy, _apps: applied.append(policy))
    f.write_text('[[apps]]\nhost = "a.test"\nrules = [{ path = "^/a" }, { path = "^/(?!public/)", groups = ["x"] }]\n')
    assert not reloader.reload("test") and applied == []
    assert "apps[0].rules[1].path (host a.test rule 2): '^/(?!public/)' is not RE2 syntax" in reloader.error
    assert "RE2 has no lookahead" in reloader.error and "a rule `^/public/`, then `^/`" in reloader.error


def test_a_skip_auth_variable_re2_cannot_take_is_refused_at_startup() -> None:
    from authgate.config import load_settings
    from authgate.errors import ConfigError

    env = {"AUTHGATE_ISSUER": "https://idp.test", "AUTHGATE_CLIENT_ID": "c", "AUTHGATE_DEV_MODE": "true"}
    with pytest.raises(ConfigError) as refused:
        load_settings({**env, "AUTHGATE_SKIP_AUTH": "GET=^/ok,^/x(?<=x)"})
    (why,) = refused.value.problems
    assert why.startswith("AUTHGATE_SKIP_AUTH: '^/x(?<=x)': '^/x(?<=x)' is not RE2 syntax") and "lookbehind" in why


# --- the documented examples -------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _examples() -> list[tuple[str, str, str]]:
    import re

    found = []
    for doc in ("operating.md", "configuration.md"):
        text = (DOCS / doc).read_text()
        for i, (lang, body) in enumerate(re.findall(r"```(toml|yaml)\n(.*?)```", text, re.S)):
            if re.search(r"^\s*(\[\[apps\]\]|apps:)", body, re.M):  # a rules file (not, say, Prometheus's)
                found.append((f"{doc}#{i}", lang, body))
    return found


@pytest.mark.parametrize(("where", "lang", "body"), _examples(), ids=[e[0] for e in _examples()])
def test_every_documented_rules_file_loads(tmp_path: Path, where: str, lang: str, body: str) -> None:
    f = tmp_path / f"rules.{lang}"
    f.write_text(body)
    problems: list[str] = []
    assert load_rules(str(f), problems), where
    assert problems == [], where


def test_the_documented_explain_output_is_what_explain_prints(tmp_path: Path) -> None:
    text = (DOCS / "operating.md").read_text()
    wiki = text[text.index('host = "wiki.example.com"') - len("[[apps]]\n") :].split("```")[0]
    f = tmp_path / "rules.toml"
    f.write_text(wiki)
    console = text[text.index("$ authgate rules explain") :].split("```")[0].splitlines()
    code, lines = explain(
        "https://wiki.example.com/admin/users",
        user="alice",
        groups=("staff", "ops"),
        ip="192.0.2.7",
        file=str(f),
        environ={},
    )
    assert code == 1
    assert lines == console[1:], "docs/operating.md shows what the command prints"


def test_path_rules_are_case_sensitive_unless_they_say_otherwise() -> None:
    apps = [
        {"host": "app.test", "rules": [{"path": "^/admin", "policy": "deny"}, {"path": "(?i)^/ops", "policy": "deny"}]}
    ]
    host = policy(apps).for_host("app.test")
    assert isinstance(host.decide("GET", "/admin"), Deny)
    assert isinstance(host.decide("GET", "/ADMIN"), AccessRule), "as written: an app that ignores case needs (?i)"
    assert isinstance(host.decide("GET", "/OPS/x"), Deny)
