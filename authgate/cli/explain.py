"""``authgate rules explain``: which host entry and rule a request meets, and the decision.

For operators to try a rules file before deploying it. The rules are loaded as the server loads
them (the ``AUTHGATE_*`` variables for the global rules, the rules file from ``--file`` or
``AUTHGATE_CONFIG``); the other settings are not needed and not checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from authgate.access.forwarded import clean_host
from authgate.access.paths import PathForms, path_forms
from authgate.access.policy import HostRules, Policy
from authgate.access.request import hostname_of
from authgate.access.verdicts import AccessRule, AllOf, Deny, Public
from authgate.config import Settings, load_rules
from authgate.config.sources import gather
from authgate.errors import InvalidForwardedHeaders
from authgate.model import Identity

PASSES, REFUSED, BAD_INPUT = 0, 1, 2


def explain(
    url: str,
    *,
    user: str = "",
    groups: tuple[str, ...] = (),
    email: str = "",
    ip: str = "",
    method: str = "GET",
    file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[int, list[str]]:
    """The exit status (0 passes, 1 refused, 2 bad input) and the lines to print."""
    problems: list[str] = []
    values = gather(os.environ if environ is None else environ, [])  # only the rules' variables are read
    settings = Settings(**{k: v for k, v in values.items() if k in _RULE_SETTINGS})
    path = settings.config if file is None else file
    apps = load_rules(path, problems) if path else []
    parts = urlsplit(url)
    try:
        host = clean_host(parts.netloc.rpartition("@")[2])
    except InvalidForwardedHeaders:
        host = ""
    hostname = hostname_of(host)
    if parts.scheme not in ("http", "https") or not hostname:
        problems.append(f"{url!r} is not an absolute http(s) URL")
    if problems:
        return BAD_INPUT, problems
    policy = Policy.from_settings(settings.model_copy(update={"apps": apps}))
    rules = policy.for_host(hostname)
    # As a browser sends it: anything but URL characters percent-encoded (a backslash kept, as a
    # client such as curl --path-as-is may send it).
    forms = path_forms(quote(parts.path or "/", safe="/%:@!$&'()*+,;=\\"))
    verdict = rules.decide(method.upper(), forms, (f"{parts.scheme}://{host}", parts.query))
    who = Identity(sub=user, username=user, email=email, groups=groups, email_verified=True)
    lines = [
        f"request:    {method.upper()} {url} from {ip or 'an unknown address'}",
        f"as:         {user or '(no --user)'}; groups {', '.join(groups) or 'none'}; email {email or 'none'}",
        f"host entry: {'none: the global rules' if rules is policy.default else _entry(rules.default)}",
        f"path:       {_path(forms)}",
        f"case:       {_case(rules, policy)}",
        f"rule:       {verdict.name}",
    ]
    if isinstance(verdict, Public):
        return PASSES, [*lines, "decision:   public: passes without sign-in, with no identity headers"]
    if isinstance(verdict, Deny):
        return REFUSED, [*lines, "decision:   deny: 403 for everyone, signed in or not"]
    return _admission(verdict, who, ip, lines)


def _admission(rule: AccessRule | AllOf, who: Identity, ip: str, lines: list[str]) -> tuple[int, list[str]]:
    why = rule.refusal(who, ip)
    if why is None:
        return PASSES, [*lines, "decision:   allow: this user passes once signed in"]
    return REFUSED, [*lines, f"decision:   refuse (403 once signed in): {why}"]


def _path(forms: PathForms) -> str:
    """The path the rules matched: its canonical form, as sent when that differs, and an ambiguous
    path's readings (docs/security.md)."""
    line = forms.canonical if forms.raw == forms.canonical else f"{forms.canonical} (as sent: {forms.raw})"
    if forms.ambiguous:
        readings = ", ".join(forms.readings())
        line += f"; ambiguous: never public, and the rule of every reading must admit: {readings}"
    return line


def _case(host: HostRules, policy: Policy) -> str:
    if host.ignore_case:
        return "rules ignore case (the host entry says case_insensitive_paths = true)"
    if host is policy.default:
        return "rules match case-sensitively (the global rules always do)"
    return "rules match case-sensitively (the host entry does not say case_insensitive_paths = true)"


def _entry(default: AccessRule) -> str:
    return default.name.removesuffix(" (its allow-lists)")


_RULE_SETTINGS = {
    "allowed_groups",
    "allowed_users",
    "allowed_email_domains",
    "allow_unverified_email",
    "skip_auth",
    "config",
}
