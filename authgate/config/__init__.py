"""The settings: read from ``AUTHGATE_*`` variables once at startup, validated whole.

``load_settings()`` reports every problem at once (as one ``ConfigError``), in words an
operator can act on. Secrets may come from files (``AUTHGATE_SECRET_FILE`` ...). Access
rules come from an optional TOML/YAML file (``AUTHGATE_CONFIG``), read again on reload (``authgate.wiring.reload``).

    settings.py   the fields, with their defaults and descriptions
    rules.py      the rules file's entries (hosts, path rules, an app's own OAuth client)
    sources.py    the environment, the ``*_FILE`` secrets and the rules file, typos reported
    checks.py     the checks across fields
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from pydantic import ValidationError

from authgate.config.checks import problems_of
from authgate.config.rules import AppRule, PathRuleEntry, split_skip_rule
from authgate.config.settings import (
    DEFAULT_TRUSTED_PROXIES,
    ENV_PREFIX,
    GENERATE_SECRET,
    HEADER_SET_NAMES,
    SECRET_FIELDS,
    Settings,
)
from authgate.config.sources import gather, load_rules, read_secret_files
from authgate.errors import ConfigError

__all__ = [
    "DEFAULT_TRUSTED_PROXIES",
    "ENV_PREFIX",
    "GENERATE_SECRET",
    "HEADER_SET_NAMES",
    "SECRET_FIELDS",
    "AppRule",
    "PathRuleEntry",
    "Settings",
    "load_rules",
    "load_settings",
    "outpost_secret",
    "split_skip_rule",
]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings from the environment; raise ``ConfigError`` listing every problem."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    values = gather(env, problems)
    values.update(read_secret_files(env, problems))
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        bad = set()
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            bad.add(field)
            problems.append(f"AUTHGATE_{field.upper()}: {err['msg']}.")
        # Validate the rest on its own, so one bad value does not hide the other problems.
        settings = Settings(**{k: v for k, v in values.items() if k not in bad})
    if settings.config:
        settings.apps = load_rules(settings.config, problems)
    if settings.outpost_mode and settings.authentik_token and not settings.secret:
        settings.secret = [outpost_secret(settings.authentik_token)]
    problems += problems_of(settings)
    if problems:
        raise ConfigError(problems)
    return settings


#: HKDF's ``info`` for the key outpost mode derives from the outpost's token (docs/migrating-from-authentik-outpost.md).
OUTPOST_SECRET_INFO = b"authgate.outpost-secret.v1"


def outpost_secret(token: str) -> str:
    """``AUTHGATE_SECRET`` in outpost mode when unset: HKDF-SHA256 (RFC 5869, no salt) of the outpost's
    token, so that every replica given the same token derives the same key and none has to be
    shared by hand. A new token means a new key: sessions and sign-ins in progress end."""
    prk = hmac.new(b"\0" * 32, token.encode(), hashlib.sha256).digest()
    okm = hmac.new(prk, OUTPOST_SECRET_INFO + b"\x01", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(okm).decode().rstrip("=")
