"""The configuration reference (docs/configuration.md), generated from ``authgate.config``.

Every setting's name, type, default and description comes from the ``Settings`` class; the
``_FILE`` variants from ``SECRET_FIELDS``; the rules file's keys from ``AppRule``. Nothing here
may describe a setting that the code does not have: a field without a description is an error.

    python -m tools.docs_gen            # print the Markdown
    python -m tools.docs_gen --write    # write docs/configuration.md

``tests/unit/test_docs.py`` fails when docs/configuration.md differs from this output.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from authgate.config import (
    DEFAULT_TRUSTED_PROXIES,
    ENV_PREFIX,
    HEADER_SET_NAMES,
    SECRET_FIELDS,
    AppRule,
    PathRuleEntry,
    Settings,
)
from authgate.config.settings import CommaSeparated
from tools.mutation import equivalents

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

#: Settings whose value is comma-separated in the environment (``CommaList`` in ``authgate.config``).
_LIST_TYPE = "list (comma-separated)"

#: The rules file's keys: ``AppRule`` and ``PathRuleEntry`` have no field descriptions of their own,
#: so they live here (and ``_rule_rows`` refuses a field that is missing from these tables).
RULE_KEYS: dict[str, str] = {
    "host": "The host this entry applies to, bare (`app.example.com`: no scheme, port or path), or a list of "
    "them. `*.example.com` matches any host one or more labels below `example.com` (`a.example.com`, "
    "`a.b.example.com`), never `example.com` itself. Matched case-insensitively, without the port; an exact "
    "host beats a wildcard, a longer wildcard beats a shorter one. Each host may appear once in the file.",
    "groups": "Who may pass on this host when no path rule decides: members of one of these groups. "
    "Replaces `AUTHGATE_ALLOWED_GROUPS` for this host (absent: the global value; `[]`: no group restriction). "
    "Short-form name: `allowed_groups`.",
    "users": "Usernames (or `sub:<subject>`) who may pass on this host; replaces `AUTHGATE_ALLOWED_USERS` "
    "(absent: the global value; `[]`: no restriction). Short-form name: `allowed_users`.",
    "email_domains": "Email domains whose users may pass on this host; replaces "
    "`AUTHGATE_ALLOWED_EMAIL_DOMAINS` (absent: the global value; `[]`: no restriction). "
    "Short-form name: `allowed_email_domains`.",
    "rules": "Path rules, in order: the first that matches decides (keys below). "
    "None matches: the host's `groups`/`users`/`email_domains`.",
    "skip_auth": "Short form: public routes on this host, `regex` or `METHOD=regex` on the path, looked at "
    "after the host's `rules` and before `AUTHGATE_SKIP_AUTH` (which applies to every host).",
    "skip_auth_url": "Public routes matched on the whole URL, `scheme://host/path` (`regex` or `METHOD=regex`, "
    "e.g. `^https://files\\.example\\.com/public/`), as Authentik's outpost matches a forward_domain "
    "provider's *Unauthenticated URLs*. A request with a query passes only when the regex matches the URL "
    "both without and with it: a query can keep a URL from matching, never make it match. Looked at with "
    "`skip_auth`.",
    "issuer": "This app's own OAuth client (Authentik: the issuer of the app's provider, "
    "`https://auth.example.com/application/o/<slug>/`). With `client_id` and `client_secret` (or "
    "`client_secret_file`), users of this app sign in with this client, so the IdP's own policies for the "
    "application decide who may sign in, and its sessions refresh and sign out with it. Absent: the global "
    "client (`AUTHGATE_ISSUER`). Not with domain-level mode (`AUTHGATE_COOKIE_DOMAIN`).",
    "client_id": "The app's own client id (with `issuer`).",
    "client_secret": "The app's own client secret (with `issuer`); or `client_secret_file`.",
    "client_secret_file": "A file holding the app's client secret (a Docker or Kubernetes secret), read "
    "when the rules file is loaded.",
    "scopes": "Scopes the app's own client asks for (default: `AUTHGATE_SCOPES`).",
    "header_auth": 'Header authentication for this app\'s API clients: `["bearer"]`, `["basic"]`, both, or '
    "`[]` (off here). Absent: `AUTHGATE_HEADER_AUTH`. Bearer tokens must be for the app's client "
    "(its `client_id`, or one of `header_auth_audiences`); Basic is checked with the app's client.",
    "header_auth_audiences": "Other audiences (client ids) a bearer token for this app may name (default: "
    "`AUTHGATE_HEADER_AUTH_AUDIENCES`).",
    "basic_auth_enabled": "`true`: send this app HTTP Basic credentials (`Authorization: Basic ...`) from the "
    "user's attributes in Authentik's `ak_proxy` claim, as a proxy provider's *Set HTTP-Basic Authentication* "
    "does (the client's own `Authorization` header then never reaches the app); `false`: none for this app. "
    "Absent: `AUTHGATE_AUTHENTIK_BASIC_AUTH_*`. In outpost mode a provider's own setting is used.",
    "basic_auth_user_attribute": "With `basic_auth_enabled`: the user attribute holding the Basic username "
    "(absent or missing on the user: the email address).",
    "basic_auth_password_attribute": "With `basic_auth_enabled` (required then): the user attribute holding "
    "the Basic password; a user without it gets no header.",
    "session_ttl": "Seconds this app's sessions last at most (and its session cookie's `Max-Age`), at least 60; "
    "absent: `AUTHGATE_SESSION_TTL`, which also caps it. In outpost mode: a provider's "
    "`access_token_validity`.",
    "authentik_provider_name": "Sent as `X-authentik-meta-provider` for this app (absent: as for every app; "
    "in outpost mode: the provider's name).",
    "authentik_app_slug": "Sent as `X-authentik-meta-app` for this app (absent: as for every app; in outpost "
    "mode: the provider's application slug).",
    "authentik_outpost_name": "Sent as `X-authentik-meta-outpost` for this app (absent: "
    "`AUTHGATE_AUTHENTIK_OUTPOST_NAME`; in outpost mode: the outpost's name in Authentik, unless that "
    "setting is set).",
    "cookie_domain": "Domain-level mode for this app alone (with `external_url`), as an Authentik "
    "`forward_domain` provider: its session cookie is set for this domain, so one sign-in opens every host "
    "of the entry (list them, e.g. `*.example.com`), and `rd` may point anywhere under it. Every host of the "
    "entry and `external_url`'s host must be under it. Absent: `AUTHGATE_COOKIE_DOMAIN`, if set.",
    "external_url": "With `cookie_domain`: the auth host this app's sign-ins come back to "
    "(`<external_url><AUTHGATE_PATH_PREFIX>/callback`, the one redirect URI to register), e.g. "
    "`https://auth.example.com`.",
    "case_insensitive_paths": "`true` for an app that serves a path whatever its case: IIS and ASP.NET, "
    "Express (its router ignores case by default), anything serving files from a case-insensitive file "
    "system (Windows, macOS, an SMB share). Every rule of this host (its `skip_auth` and `AUTHGATE_SKIP_AUTH` "
    "included) then ignores case (Unicode case folding, on both the pattern and the path), so `/ADMIN/` meets "
    "`^/admin` and a `deny` "
    "covers every spelling. Default `false`, right for an app that tells `/Admin` from `/admin` (nginx or "
    "Caddy serving files on Linux, most frameworks); on an app that ignores case it lets `/ADMIN/` past a "
    "`^/admin` rule. `authgate rules explain` says which was used.",
}
PATH_RULE_KEYS: dict[str, str] = {
    "path": "A regular expression (RE2, below) searched in the path's canonical form (below; not anchored: "
    "use `^`), without the query; case-sensitive unless the entry says `case_insensitive_paths = true`. "
    "Absent: every path (a catch-all).",
    "methods": 'Upper-case methods the rule applies to (`["GET", "HEAD"]`); absent: all. A rule with '
    "methods never matches when the proxy did not send the method.",
    "policy": "`public` (passes without sign-in, no identity headers) or `deny` (403 for everyone). "
    "Absent: the rule says who may pass, with the keys below.",
    "groups": "Who may pass on these paths: members of one of these groups (absent: the host's `groups`; "
    "`[]`: no group restriction).",
    "users": "Usernames (or `sub:<subject>`) who may pass on these paths (absent: the host's `users`).",
    "email_domains": "Email domains whose users may pass on these paths (absent: the host's `email_domains`).",
    "networks": "Client networks (CIDR or address) these paths may be opened from, in addition to the lists: "
    "anyone else gets 403. The client's address is the proxy's peer, or the `X-Forwarded-For` entry left of "
    "the trusted proxies (`AUTHGATE_TRUSTED_PROXIES`); an unknown address is in no network.",
}


def _type_name(annotation: Any, metadata: list[Any]) -> str:
    """A reader's name for a field's type."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        names = [_type_name(a, []) for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(names) + " (optional)"
    if typing.get_origin(annotation) is list:
        return "list"
    scalars: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if isinstance(annotation, type) and annotation in scalars:
        return scalars[annotation]
    return str(annotation)


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def _format_default(value: Any) -> str:
    if value is None:
        return "*(required)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if value == "":
        return "*(empty)*"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def documented_fields() -> list[tuple[str, FieldInfo]]:
    """The settings read from the environment, in class order (``exclude=True`` fields are not)."""
    return [(name, f) for name, f in Settings.model_fields.items() if not f.exclude]


def _settings_rows() -> list[str]:
    rows = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, field in documented_fields():
        if not field.description:
            raise ValueError(f"Settings.{name} has no description: add one in authgate/config/settings.py")
        comma_list = any(isinstance(m, CommaSeparated) for m in field.metadata)
        kind = _LIST_TYPE if comma_list else _type_name(field.annotation, field.metadata)
        if name in SECRET_FIELDS:
            kind += ", secret"
        rows.append(
            f"| `{env_name(name)}` | {kind} | {_format_default(_default(field))} | {_cell(field.description)} |"
        )
    return rows


def _secret_rows() -> list[str]:
    rows = ["| Variable | Holds the value of |", "|---|---|"]
    for name in SECRET_FIELDS:
        rows.append(f"| `{env_name(name)}_FILE` | `{env_name(name)}` |")
    return rows


def _rule_rows(model: type[BaseModel], keys: dict[str, str]) -> list[str]:
    rows = ["| Key | Type | Meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name not in keys:
            raise ValueError(f"{model.__name__}.{name} is not described in tools/docs_gen.py")
        kind = _type_name(field.annotation, field.metadata)
        if name == "host":
            kind = "string or list (required)"
        if name == "policy":
            kind = "`public` or `deny` (optional)"
        rows.append(f"| `{name}` | {kind} | {_cell(keys[name])} |")
    return rows


def render() -> str:
    """The whole of docs/configuration.md."""
    secrets = ", ".join(f"`{env_name(n)}`" for n in SECRET_FIELDS)
    header_sets = ", ".join(f"`{n}`" for n in HEADER_SET_NAMES)
    parts = [
        "# Configuration reference",
        "",
        "<!-- Generated from authgate/config/ (settings.py, rules.py) by `python -m tools.docs_gen --write`. "
        "Do not edit by hand: tests/unit/test_docs.py fails when this file and the code disagree. -->",
        "",
        "authgate reads its configuration once, at startup, from environment variables named "
        f"`{ENV_PREFIX}<SETTING>` (the name is not case-sensitive; the rules file alone is read again on "
        "`SIGHUP` and when it changes). `authgate serve` validates all of it "
        "and, when something is wrong, prints every problem at once and exits with status 2; "
        "`authgate check` prints the same problems, and with a valid configuration goes on to probe the IdP and Redis. "
        f"A variable that starts with `{ENV_PREFIX}` but names no setting (nor the `_FILE` of a secret) is not "
        "ignored: it is one of those problems, with the closest setting's name when there is one "
        f"(`{ENV_PREFIX}ALLOWED_GROUP is not a setting. Did you mean {ENV_PREFIX}ALLOWED_GROUPS?`), so a typo "
        "cannot silently drop, say, a group restriction.",
        "",
        "Lists are comma-separated (`AUTHGATE_ALLOWED_GROUPS=admins,ops`); spaces around the commas are "
        "dropped. Booleans accept `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`. Durations are in seconds.",
        "",
        "## Settings",
        "",
        *_settings_rows(),
        "",
        "What startup refuses (unless said otherwise, also with `AUTHGATE_DEV_MODE=true`):",
        "",
        "- `AUTHGATE_ISSUER` and `AUTHGATE_CLIENT_ID` unset; `AUTHGATE_ISSUER`, `AUTHGATE_BACKCHANNEL_URL` "
        "or `AUTHGATE_EXTERNAL_URL` that is not an absolute `http(s)://` URL.",
        "- `AUTHGATE_SECRET` unset, or any of its keys shorter than 32 characters or with fewer than 8 "
        "distinct characters (both allowed in development mode, where a missing secret is replaced by a "
        "random one, so sessions end at every restart).",
        "- `AUTHGATE_COOKIE_DOMAIN` without `AUTHGATE_EXTERNAL_URL`, or an `AUTHGATE_EXTERNAL_URL` whose host "
        "is not the cookie domain or under it.",
        "- `AUTHGATE_SCOPES` without `openid`; an `AUTHGATE_PATH_PREFIX` that does not start with `/`, ends "
        f"with `/` or contains `?`; an unknown header set (known: {header_sets}); an entry of "
        "`AUTHGATE_TRUSTED_PROXIES` that is not an IP address or CIDR; a `AUTHGATE_SKIP_AUTH` (or rules-file "
        "`skip_auth`) entry that is not a regular expression RE2 takes (said with what to write instead).",
        "- `AUTHGATE_SESSION_TTL` under 60 or `AUTHGATE_LOGIN_TTL` under 30 seconds; an "
        "`AUTHGATE_STORE_TIMEOUT` or `AUTHGATE_IDP_TIMEOUT` that is not positive; a value of the wrong type.",
        "",
        "Without `AUTHGATE_REDIS_URL`, sessions live in the process: one replica with one worker "
        "(`authgate serve --workers 2` refuses to start), said in a warning at startup.",
        "",
        f"The default `AUTHGATE_TRUSTED_PROXIES` is loopback plus the private ranges: `{DEFAULT_TRUSTED_PROXIES}`. "
        "Auth checks from any other address are refused with 403.",
        "",
        "## Secrets from files",
        "",
        f"Each secret ({secrets}) may instead be read from a file, named by the same variable with `_FILE` "
        "appended: the Docker and Kubernetes secrets convention. The file's content, without leading and "
        "trailing whitespace (a final newline included), is the value; when both the variable and its `_FILE` "
        "are set, the file wins; a `AUTHGATE_SECRET_FILE` may hold several comma-separated keys like the variable. "
        "A file that cannot be read is a startup error. `_FILE` works for these variables only, spelled in "
        "upper case as below.",
        "",
        *_secret_rows(),
        "",
        "## Rules file",
        "",
        "`AUTHGATE_CONFIG` names an optional file of access rules, host by host, where the `AUTHGATE_ALLOWED_*` "
        "and `AUTHGATE_SKIP_AUTH` variables make the global rules (for every host without an entry). A name "
        "ending in `.yaml` or `.yml` is read as YAML, anything else as TOML. The file holds a list named `apps`; "
        "each entry is one host (or several) with these keys:",
        "",
        *_rule_rows(AppRule, RULE_KEYS),
        "",
        "Each path rule (`rules = [...]`) has these keys:",
        "",
        *_rule_rows(PathRuleEntry, PATH_RULE_KEYS),
        "",
        "How a request is decided: its host picks the entry (an exact host, else the longest matching "
        "wildcard, else the global rules); the entry's `rules` are tried in order and the first whose `path` "
        "and `methods` match decides; then the entry's `skip_auth` and `AUTHGATE_SKIP_AUTH` (public routes); "
        "when nothing matched, the entry's `groups`, `users` and `email_domains`. The allow-lists combine: a "
        "user passes when every list that is set is satisfied (member of one listed group, *and* a listed user, "
        "*and* an email in a listed domain), and, with `networks`, from one of those networks. "
        "A `public` or `deny` rule cannot have allow-lists or networks.",
        "",
        "**Rules decide on the path as the app will serve it**, its *canonical form*: percent-decoded once, "
        "`;parameters` dropped from every segment (Tomcat, Jetty), repeated slashes merged (nginx, Apache, "
        "Tomcat, Spring), `.` and `..` segments resolved. So `//admin/`, `/;x/admin/`, `/.//admin` and "
        "`/%61dmin` all meet a `^/admin` rule. A path that takes more than its decoding to reach that form "
        "(`//`, `;`, a dot segment), or whose meaning depends on the app (a backslash or `%5c`, an encoded `/`, "
        "a double encoding, a raw `#`, a control character, a name ending in a dot, bytes that are not UTF-8) is "
        "**ambiguous**. It is read every way an app may read it: as sent, as nginx resolves it and in canonical "
        "form, also with `\\` read as `/`, decoded twice, cut at a `#`, names without their trailing dots "
        "(Windows); each reading meets its own first rule. It is never public (a `public` rule stands for the "
        "host's lists); a `deny` rule any reading meets refuses it; otherwise every allow rule met must admit the "
        "user: the strictest reading wins, and a user allowed on every page the path can name still gets it. "
        "The audit trail's `path` is the canonical form, with `raw_path` as sent when the two differ.",
        "",
        "Regular expressions (`path`, `skip_auth`, `AUTHGATE_SKIP_AUTH`) are matched with RE2, in time linear "
        "in the path whatever the pattern (Python's own engine backtracks: `/.*/.*/admin` held a replica for "
        "95 s on one 8 KB path). RE2 takes the usual syntax except what needs backtracking: lookarounds "
        "(`(?=`, `(?!`, `(?<=`, `(?<!`), backreferences (`\\1`, `(?P=name)`), atomic groups and possessive "
        "quantifiers; the end of the text is `\\z` (or `$`), not `\\Z`; counts go up to 1000; `\\d`, `\\w`, "
        "`\\s` and `\\b` are ASCII only. A pattern RE2 cannot take is reported at startup, by `authgate check` "
        "and on reload, with the rule's name and what to write instead: every path but `/public/`, "
        "`^/(?!public/)`, is a rule `^/public/` placed before a rule `^/`.",
        "",
        "Unknown keys, bad regular expressions, methods or networks, and a host listed twice are reported "
        "at startup, every problem at once, naming the file, the entry and the key. The file is read again on "
        "`SIGHUP` and when it changes (checked every 2 seconds): a good file replaces the rules at once; a bad "
        "one is refused as a whole, the rules in force stay, and every problem is logged and shown by "
        "`/readyz` (docs/operating.md). `authgate rules explain URL --user alice --groups a,b --ip 10.0.0.5` "
        "prints the entry and rule a request meets, the path it matched (canonical form, ambiguous or not, "
        "case-sensitive or not) and the decision.",
        "",
        "TOML:",
        "",
        "```toml",
        "[[apps]]",
        'host = "grafana.example.com"',
        'groups = ["grafana-users", "ops"]',
        "rules = [",
        '  { path = "^/api/health$", methods = ["GET"], policy = "public" },',
        '  { path = "^/admin", groups = ["ops"], networks = ["10.0.0.0/8"] },',
        '  { path = "^/internal/", policy = "deny" },',
        "]",
        "",
        "[[apps]]",
        'host = "*.dev.example.com"',
        'groups = ["developers"]',
        "",
        "[[apps]]                            # the short form: still read as it always was",
        'host = "status.example.com"',
        "allowed_groups = []                 # anyone the IdP signs in, whatever AUTHGATE_ALLOWED_GROUPS says",
        'skip_auth = ["GET=^/api/status-page/", "^/assets/"]',
        "```",
        "",
        "YAML:",
        "",
        "```yaml",
        "apps:",
        "  - host: grafana.example.com",
        "    groups: [grafana-users, ops]",
        "    rules:",
        "      - { path: ^/api/health$, methods: [GET], policy: public }",
        "      - { path: ^/admin, groups: [ops], networks: [10.0.0.0/8] }",
        "      - { path: ^/internal/, policy: deny }",
        '  - host: ["*.dev.example.com"]',
        "    groups: [developers]",
        "  - host: status.example.com",
        "    allowed_groups: []",
        '    skip_auth: ["GET=^/api/status-page/", "^/assets/"]',
        "```",
        "",
        "## Public routes (`skip_auth`)",
        "",
        "Each entry is a regular expression searched (not anchored: use `^` and `$`) in the path of the "
        "request, without its query string, in its canonical form (above; case-sensitive unless the host entry "
        "says `case_insensitive_paths = true`); "
        "`METHOD=regex` (an upper-case method, e.g. `GET=^/healthz$`) limits it to that method, and never "
        "matches when the proxy did not say the method (send `X-Original-Method`, as the recipes do). "
        "A matching request passes with 200 and no identity headers, without looking at the session "
        "(a signed-in user gets no identity headers there either). "
        "An ambiguous path (above) is never public: a `.` or `..` segment in any spelling (percent-encoded, "
        "double-encoded, with `;parameters` as in `..;`), a repeated slash, `;parameters`, a backslash or an "
        "encoded `/` or `\\`, a raw `#`, a control character; so `/public/..;/admin` cannot slip through a "
        "`^/public/` rule. Such a path goes through the sign-in check, with the rules of every reading of it.",
        "",
    ]
    return "\n".join(parts)


#: docs/testing.md's table of equivalent mutants sits between these lines, generated from
#: tools/mutation/equivalents.py.
TESTING = OUTPUT.parent / "testing.md"
EQUIVALENTS_START = "<!-- generated by tools/docs_gen.py from tools/mutation/equivalents.py -->\n"
EQUIVALENTS_END = "<!-- end of the generated table -->\n"


def render_testing(current: str) -> str:
    """docs/testing.md with its table of equivalent mutants made anew."""
    before, start, rest = current.partition(EQUIVALENTS_START)
    _, end, after = rest.partition(EQUIVALENTS_END)
    if not start or not end:
        raise SystemExit(f"{TESTING}: the generated table's marker lines are missing")
    return before + start + "\n" + equivalents.table() + "\n" + end + after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs_gen", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write docs/configuration.md and docs/testing.md's table")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(text)
        TESTING.write_text(render_testing(TESTING.read_text()))
        print(f"wrote {OUTPUT} and {TESTING}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
