"""The configuration reference (docs/configuration.md), generated from ``app.config``.

Every setting's name, type, default and description comes from the ``Settings`` class; the
``_FILE`` variants from ``SECRET_FIELDS``; the rules file's keys from ``AppRule``. Nothing here
may describe a setting that the code does not have: a field without a description is an error.

    python -m tools.docs_gen            # print the Markdown
    python -m tools.docs_gen --write    # write docs/configuration.md

``tests/unit/test_docs_unit.py`` fails when docs/configuration.md differs from this output.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import NoDecode

from app.config import DEFAULT_TRUSTED_PROXIES, ENV_PREFIX, HEADER_SET_NAMES, SECRET_FIELDS, AppRule, Settings

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

#: Settings whose value is comma-separated in the environment (``CommaList`` in ``app.config``).
_LIST_TYPE = "list (comma-separated)"

#: The rules file's keys: ``AppRule`` has no field descriptions of its own, so they live here
#: (and ``_rule_rows`` refuses a field that is missing from this table).
RULE_KEYS: dict[str, str] = {
    "host": "The host name this rule applies to, bare (`app.example.com`: no scheme, port or path); "
    "matched exactly and case-insensitively against the host of the request being checked. "
    "Each host may appear once.",
    "allowed_groups": "Replaces `AUTHGATE_ALLOWED_GROUPS` for this host. Absent: the global value applies. "
    "An empty list (`[]`) means no group restriction on this host.",
    "allowed_users": "Replaces `AUTHGATE_ALLOWED_USERS` for this host "
    "(absent: the global value; `[]`: no restriction).",
    "allowed_email_domains": "Replaces `AUTHGATE_ALLOWED_EMAIL_DOMAINS` for this host "
    "(absent: the global value; `[]`: no restriction).",
    "skip_auth": "Public routes on this host, in addition to (not instead of) `AUTHGATE_SKIP_AUTH`: "
    "`regex` or `METHOD=regex` on the path. Commas are allowed here (the environment variable splits on them).",
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
            raise ValueError(f"Settings.{name} has no description: add one in app/config.py")
        comma_list = any(m is NoDecode or isinstance(m, NoDecode) for m in field.metadata)
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


def _rule_rows() -> list[str]:
    rows = ["| Key | Type | Meaning |", "|---|---|---|"]
    for name, field in AppRule.model_fields.items():
        if name not in RULE_KEYS:
            raise ValueError(f"AppRule.{name} is not described in tools/docs_gen.py RULE_KEYS")
        kind = _type_name(field.annotation, field.metadata)
        if name == "host":
            kind += " (required)"
        rows.append(f"| `{name}` | {kind} | {_cell(RULE_KEYS[name])} |")
    return rows


def render() -> str:
    """The whole of docs/configuration.md."""
    secrets = ", ".join(f"`{env_name(n)}`" for n in SECRET_FIELDS)
    header_sets = ", ".join(f"`{n}`" for n in HEADER_SET_NAMES)
    parts = [
        "# Configuration reference",
        "",
        "<!-- Generated from app/config.py by `python -m tools.docs_gen --write`. Do not edit by hand: "
        "tests/unit/test_docs_unit.py fails when this file and the code disagree. -->",
        "",
        "authgate reads its configuration once, at startup, from environment variables named "
        f"`{ENV_PREFIX}<SETTING>` (the name is not case-sensitive). `authgate serve` validates all of it "
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
        "`skip_auth`) entry that is not a valid regular expression.",
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
        "## Per-app rules file",
        "",
        "`AUTHGATE_CONFIG` names an optional file of per-host rules: who may pass and which routes are "
        "public, host by host, where the `AUTHGATE_ALLOWED_*` and `AUTHGATE_SKIP_AUTH` variables apply to every "
        "host. A name ending in `.yaml` or `.yml` is read as YAML, anything else as TOML. The file holds a list "
        "named `apps`; each entry is one host:",
        "",
        *_rule_rows(),
        "",
        "A request whose host has no entry gets the global rule. The allow-lists combine as in the global "
        "rule: a user passes when every list that is set is satisfied (member of at least one listed group, "
        "*and* a listed user, *and* an email in a listed domain). The file is read at startup; a change takes "
        "effect at the next restart.",
        "",
        "TOML:",
        "",
        "```toml",
        "[[apps]]",
        'host = "grafana.example.com"',
        'allowed_groups = ["grafana-admins", "ops"]',
        "",
        "[[apps]]",
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
        "    allowed_groups: [grafana-admins, ops]",
        "  - host: status.example.com",
        "    allowed_groups: []",
        '    skip_auth: ["GET=^/api/status-page/", "^/assets/"]',
        "```",
        "",
        "## Public routes (`skip_auth`)",
        "",
        "Each entry is a regular expression searched (not anchored: use `^` and `$`) in the path of the "
        "request, without its query string, percent-decoded once (as the app sees it; case-sensitive); "
        "`METHOD=regex` (an upper-case method, e.g. `GET=^/healthz$`) limits it to that method, and never "
        "matches when the proxy did not say the method (send `X-Original-Method`, as the recipes do). "
        "A matching request passes with 200 and no identity headers, without looking at the session "
        "(a signed-in user gets no identity headers there either). "
        "An ambiguous path is never public: a `.` or `..` segment in any spelling (percent-encoded, "
        "double-encoded, with `;parameters` as in `..;`), a backslash or an encoded `/` or `\\`, a raw `#`, "
        "a control character; so `/public/..;/admin` cannot slip through a `^/public/` rule. Such a path "
        "simply goes through the normal sign-in check.",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs_gen", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUTPUT.relative_to(OUTPUT.parent.parent)}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(text)
        print(f"wrote {OUTPUT}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
