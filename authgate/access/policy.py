"""Which rule applies where: the access rules (hosts, ordered path rules), compiled once per load.

Pure logic: no I/O. Compiled once per (re)load into a ``Policy``: exact hosts and wildcard suffixes in
dicts, per host an ordered tuple of path rules matched together by RE2 (authgate/regexes.py). ``for_request``
picks the host's rules (one dict hit for an exact host); ``HostRules.decide`` the first path rule that
matches the path's canonical form (authgate/access/paths.py), or for a URL rule (``skip_auth_url``) the
whole URL, else the host's allow-lists. The verdict (``Public``,
``Deny``, ``AccessRule``, or ``AllOf`` for an ambiguous path) names the rule that gave it, for the 403
page, the log and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from authgate.access.paths import PathForms, path_forms
from authgate.access.request import OriginalRequest
from authgate.access.verdicts import SUB_PREFIX, AccessRule, AllOf, Deny, Public, Verdict
from authgate.config.rules import split_skip_rule
from authgate.regexes import RuleSet

if TYPE_CHECKING:
    from authgate.config.rules import AppRule, PathRuleEntry
    from authgate.config.settings import Settings


@dataclass(frozen=True, slots=True)
class PathRule:
    """One path rule: the path regex (None: every path), the methods (None: any), the verdict."""

    pattern: str | None
    methods: frozenset[str] | None
    verdict: Public | Deny | AccessRule
    on_url: bool = False  # matched on the whole URL (``HostRules.decide``'s ``where``), not the path

    def applies_to(self, method: str) -> bool:
        """``method`` is "" when the proxy did not say it: then a rule with methods never applies."""
        return self.methods is None or method in self.methods


def skip_rule(rule: str, name: str, *, on_url: bool = False) -> PathRule:
    """A short-form public route, ``regex`` or ``METHOD=regex``; ``on_url``: matched on the whole URL."""
    method, pattern = split_skip_rule(rule)
    return PathRule(pattern, None if method is None else frozenset((method,)), Public(f"{name} `{rule}`"), on_url)


@dataclass(frozen=True, slots=True)
class HostRules:
    """A host's path rules in order (the short form's public routes last) and its allow-lists."""

    default: AccessRule
    rules: tuple[PathRule, ...] = ()
    app: str = ""  # the entry's key when it has its own client or header auth (authgate/wiring/apps.py); "": global
    ignore_case: bool = False  # ``case_insensitive_paths``: rules ignore case (RE2's Unicode case folding)
    # The path rules' regexes in one RE2 set, and the URL rules' in another; ``ids``: their places in ``rules``.
    matcher: RuleSet = field(init=False, compare=False, repr=False)
    url_matcher: RuleSet = field(init=False, compare=False, repr=False)
    ids: tuple[tuple[int, ...], tuple[int, ...]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        on_path = tuple(i for i, r in enumerate(self.rules) if not r.on_url)
        on_url = tuple(i for i, r in enumerate(self.rules) if r.on_url)
        for name, ids in (("matcher", on_path), ("url_matcher", on_url)):
            object.__setattr__(self, name, RuleSet([self.rules[i].pattern for i in ids], ignore_case=self.ignore_case))
        object.__setattr__(self, "ids", (on_path, on_url))

    def decide(self, method: str, path: str | PathForms, where: tuple[str, str] | None = None) -> Verdict:
        """The verdict for a path as sent (or its forms: authgate.access.paths.path_forms): the first rule matching
        its canonical form; an ambiguous path meets ``_strictest``. ``where`` is the request's origin
        (``scheme://host``) and query, which a URL rule matches with the path; without it none does."""
        if not self.rules:
            return self.default
        forms = path_forms(path) if isinstance(path, str) else path
        if forms.ambiguous:
            return self._strictest(method, forms.readings())
        return self._first(method, forms.canonical, where)

    def verdict_for(self, request: OriginalRequest) -> Verdict:
        """``decide`` for a parsed request, kept on it (parsed requests are memoised per URL)."""
        last = request.decided
        if last is not None and last[0] is self:
            kept: Verdict = last[1]
            return kept
        where = (request.origin, request.query) if self.ids[1] else None  # only URL rules read it
        verdict = self.decide(request.method, request.forms, where)
        request.remember(self, verdict)
        return verdict

    def _first(self, method: str, path: str, where: tuple[str, str] | None) -> Public | Deny | AccessRule:
        """The first rule that applies to ``method`` and matches ``path``, else the allow-lists."""
        rules, (on_path, on_url) = self.rules, self.ids
        found = self.matcher.matching(path)
        if on_url:
            found = [on_path[i] for i in found]
            if where is not None:
                found += self._on_url(f"{where[0]}{path}", where[1])
        first = min((i for i in found if rules[i].applies_to(method)), default=None)
        return self.default if first is None else rules[first].verdict

    def _on_url(self, url: str, query: str) -> list[int]:
        """The URL rules matching ``url`` both without and with its query: a query can keep a URL
        from matching (``^https://app/public$``), never make it match (``/public`` in ``?x=/public``)."""
        found = set(self.url_matcher.matching(url))
        if query:
            found.intersection_update(self.url_matcher.matching(f"{url}?{query}"))
        return [self.ids[1][i] for i in found]

    def _strictest(self, method: str, readings: tuple[str, ...]) -> Verdict:
        """Each reading of an ambiguous path meets its first rule; a public one stands for the host's
        allow-lists (never public). A deny refuses; else every allow rule met must admit (a user who
        may see every page the path can name gets it)."""
        admit: list[AccessRule] = []
        for reading in readings:
            # URL rules only open routes, and no reading of an ambiguous path is public: not looked at.
            verdict = self._first(method, reading, None)
            if isinstance(verdict, Deny):
                return Deny(f"{verdict.name}, which an ambiguous path could reach")
            rule = self.default if isinstance(verdict, Public) else verdict
            if rule not in admit:
                admit.append(rule)
        if len(admit) == 1:
            return admit[0]
        names, networks = "; ".join(r.name for r in admit), tuple(n for rule in admit for n in rule.networks)
        return AllOf(tuple(admit), f"every rule an ambiguous path could reach: {names}", networks)


class Policy:
    """The global rules plus per-host ones: exact hosts first, then wildcards, longest first."""

    def __init__(self, default: HostRules, hosts: dict[str, HostRules] | None = None) -> None:
        self.default = default
        self.exact: dict[str, HostRules] = {}
        self.wildcards: dict[str, HostRules] = {}  # "example.com" for "*.example.com"
        for name, rules in (hosts or {}).items():
            host = name.lower()
            if host.startswith("*."):
                self.wildcards[host[2:]] = rules
            else:
                self.exact[host] = rules

    @classmethod
    def from_settings(cls, settings: Settings, *, closed: bool = False) -> Policy:
        """The global rules from ``AUTHGATE_ALLOWED_*`` / ``SKIP_AUTH``, and each host entry of the
        rules file: its own lists replace the global ones; its skip rules add to them.
        ``closed`` (outpost mode): a host no entry names is refused."""
        s = settings
        lists = (s.allowed_groups, s.allowed_users, s.allowed_email_domains)
        default = AccessRule.build(*lists, unverified_email_ok=s.allow_unverified_email)
        global_skip = tuple(skip_rule(r, "AUTHGATE_SKIP_AUTH") for r in s.skip_auth)
        hosts: dict[str, HostRules] = {}
        for app in s.apps:
            rules = _host_rules(app, default, global_skip)
            hosts.update(dict.fromkeys(app.hosts, rules))
        refuse = (PathRule(None, None, Deny("no provider of this outpost serves this host")),)
        return cls(HostRules(default, refuse if closed else global_skip), hosts)

    def for_host(self, hostname: str) -> HostRules:
        # "app.test." is "app.test" (a proxy may route both); an exact host is one dict hit.
        name = hostname.removesuffix(".")
        rules = self.exact.get(name)
        # Then the longest wildcard first: "a.b.example.com" tries "b.example.com", "example.com", "com".
        suffix = name
        while rules is None and "." in suffix and self.wildcards:
            suffix = suffix[suffix.index(".") + 1 :]
            rules = self.wildcards.get(suffix)
        return self.default if rules is None else rules

    def for_request(self, request: OriginalRequest) -> HostRules:
        # Without a rules file there is no need to take the host apart (the hot path asks).
        return self.for_host(request.hostname) if self.exact or self.wildcards else self.default


def _host_rules(app: AppRule, default: AccessRule, global_skip: tuple[PathRule, ...]) -> HostRules:
    name = f"host {app.hosts[0]}" + (f" (and {len(app.hosts) - 1} more)" if len(app.hosts) > 1 else "")
    own = AccessRule.build(
        default.groups if app.groups is None else app.groups,
        _users(default) if app.users is None else app.users,
        default.email_domains if app.email_domains is None else app.email_domains,
        unverified_email_ok=default.unverified_email_ok,
        name=f"{name} (its allow-lists)",
    )
    rules = [_path_rule(entry, own, f"{name} rule {i}") for i, entry in enumerate(app.rules, 1)]
    rules += [skip_rule(r, f"{name} skip_auth") for r in app.skip_auth]
    rules += [skip_rule(r, f"{name} skip_auth_url", on_url=True) for r in app.skip_auth_url]
    key = app_key(app) if app.own_services else ""
    return HostRules(own, (*rules, *global_skip), key, ignore_case=app.case_insensitive_paths)


def app_key(app: AppRule) -> str:
    """How an app of the rules file is named among the per-app services: its first host."""
    return app.hosts[0]


def _users(rule: AccessRule) -> list[str]:
    return [*rule.users, *(SUB_PREFIX + s for s in rule.subjects)]


def _path_rule(entry: PathRuleEntry, host: AccessRule, name: str) -> PathRule:
    if entry.path is not None:
        name += f" (path {entry.path})"
    verdict: Public | Deny | AccessRule
    if entry.policy is not None:
        verdict = Public(name) if entry.policy == "public" else Deny(name)
    else:
        verdict = AccessRule.build(
            host.groups if entry.groups is None else entry.groups,
            _users(host) if entry.users is None else entry.users,
            host.email_domains if entry.email_domains is None else entry.email_domains,
            unverified_email_ok=host.unverified_email_ok,
            name=name,
            networks=entry.networks or (),
        )
    return PathRule(entry.path, None if entry.methods is None else frozenset(entry.methods), verdict)
