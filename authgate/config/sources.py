"""Where the settings come from: ``AUTHGATE_*`` variables, ``*_FILE`` secrets, the rules file.

Ours (pydantic's models only validate), for two things a settings library's sources do not do: a variable that
names no setting is reported with a did-you-mean (a typo would otherwise silently drop, say, a
group restriction), and any secret may come from a file named by ``<NAME>_FILE`` (Docker and
Kubernetes secrets). Every problem is appended to ``problems``; nothing raises.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from authgate.config.rules import SHORT, AppRule, PathRuleEntry
from authgate.config.settings import ENV_PREFIX, OUTPOST_VARIABLES, SECRET_FIELDS, Settings


def read_secret_files(environ: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SECRET_FIELDS:
        var = f"{ENV_PREFIX}{name.upper()}_FILE"
        path = environ.get(var)
        if not path:
            continue
        try:
            values[name] = Path(path).read_text().strip()
        except OSError as exc:
            problems.append(
                f"{var}={path}: cannot read the file ({exc.strerror}). Mount the secret there or unset {var}."
            )
    return values


def load_rules(path: str, problems: list[str]) -> list[AppRule]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        problems.append(f"AUTHGATE_CONFIG={path}: cannot read the file ({exc.strerror}).")
        return []
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is a config problem
        problems.append(f"AUTHGATE_CONFIG={path}: not valid TOML/YAML ({exc}).")
        return []
    rules: list[AppRule] = []
    seen: set[str] = set()
    apps = data.get("apps", []) if isinstance(data, dict) else None
    if not isinstance(apps, list):
        problems.append(f"AUTHGATE_CONFIG={path}: expected a list named `apps`.")
        return []
    if isinstance(data, dict) and (other := sorted(set(data) - {"apps"})):
        problems.append(f"AUTHGATE_CONFIG={path}: unknown key(s) {', '.join(map(repr, other))} (only `apps`).")
    for index, item in enumerate(apps):
        try:
            rule = AppRule.model_validate(item)
        except ValidationError as exc:
            problems += [f"AUTHGATE_CONFIG={path}: apps[{index}]{_where(err, item)}" for err in exc.errors()]
            continue
        if rule.client_secret_file:
            try:
                rule.client_secret = Path(rule.client_secret_file).read_text().strip()
            except OSError as exc:
                problems.append(
                    f"AUTHGATE_CONFIG={path}: apps[{index}].client_secret_file: cannot read "
                    f"{rule.client_secret_file} ({exc.strerror})."
                )
        for host in rule.hosts:
            if host in seen:
                problems.append(f"AUTHGATE_CONFIG={path}: apps[{index}].host: {host!r} is listed twice.")
            seen.add(host)
        rules.append(rule)
    return rules


def _where(err: ErrorDetails, item: object) -> str:
    """``.rules[1].path: <message>.`` for a validation error of an entry, keys named as written."""
    keys = list(err["loc"])
    if keys and isinstance(item, dict) and f"allowed_{keys[0]}" in item:
        keys[0] = f"allowed_{keys[0]}"  # the short form's name, as the file spells it
    loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in keys)
    if err["type"] == "extra_forbidden":
        model = PathRuleEntry if "rules" in err["loc"] else AppRule
        known = ", ".join(model.model_fields)
        if model is AppRule:
            known += ", " + ", ".join(f"allowed_{key}" for key in SHORT)
        return f"{loc}: unknown key (known: {known})."
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}{_named(keys, item)}: {msg}."


def _named(keys: list[int | str], item: object) -> str:
    """`` (host app.test rule 2)``: a path rule (or skip_auth) as the policy, the logs and
    `authgate rules explain` name it."""
    host = item.get("host") if isinstance(item, dict) else None
    first = host[0] if isinstance(host, list) and host else host
    if not isinstance(first, str) or not keys or keys[0] not in ("rules", "skip_auth", "skip_auth_url"):
        return ""
    if keys[0] != "rules":
        return f" (host {first} {keys[0]})"
    return f" (host {first} rule {keys[1] + 1})" if len(keys) > 1 and isinstance(keys[1], int) else ""


def gather(environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The AUTHGATE_* values; a name that is no setting is a problem (a typo would otherwise
    silently drop, say, a group restriction)."""
    known = [name for name in Settings.model_fields if name != "apps"]
    values: dict[str, Any] = {}
    for key, value in environ.items():
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        name = upper[len(ENV_PREFIX) :].lower()
        if name.endswith("_file"):
            if name[: -len("_file")] not in SECRET_FIELDS:
                problems.append(f"{upper} is not a setting: only {', '.join(_names(SECRET_FIELDS, '_FILE'))} exist.")
            continue
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean AUTHGATE_{close[0].upper()}?" if close else ""
            problems.append(f"{upper} is not a setting.{hint}")
            continue
        values[name] = value
    # The outpost's own names, so that its compose file works as it is; ours win when both are set.
    for var in OUTPOST_VARIABLES:
        name = var.lower()
        if var in environ and name not in values and f"{ENV_PREFIX}{var}_FILE" not in environ:
            values[name] = environ[var]
    return values


def _names(fields: tuple[str, ...], suffix: str = "") -> list[str]:
    return [f"{ENV_PREFIX}{f.upper()}{suffix}" for f in fields]
