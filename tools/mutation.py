#!/usr/bin/env python3
"""`make mutation`: mutation testing of the security-critical pure modules (docs/testing.md).

Two sources of mutants, both tested by tests/unit only:

- mutmut (pinned in pyproject's dev extra; configured by ``[tool.mutmut]``): every function and
  method body of the modules in ``only_mutate``. mutmut 3 mutates no module-level code and no
  decorated function (other than static and class methods), and it does not edit regular
  expressions, so
- a catalogue (``CATALOGUE`` below) of hand-written mutants covers what it cannot reach: the
  patterns, header lists, sizes and limits defined at module level, ``clean_host`` and
  ``_method`` (``@lru_cache``), and the changes of meaning the issue that introduced this run
  found surviving (a verified-ticket memo keyed by session id, ``==`` turned into
  ``endswith``, AES-128, an 8-byte nonce ...). Each is applied to a copy of the module and the
  unit suite is run against it.

Everything runs in a snapshot of the tree in ``.mutation/`` (git-ignored), never in the tree
itself. A survivor that cannot change behaviour is listed in ``EQUIVALENT`` with its reason
(docs/testing.md shows the same list); every other survivor is printed with its diff.

Prints killed/survived/score per module, the survivors, and ends with
``mutation score: K/N killed (R%)`` over the non-equivalent mutants of the modules run. Exits 1
when a module scores under ``--min-score`` (95) or an entry of ``CATALOGUE`` / ``EQUIVALENT`` no
longer matches the code.

    .venv/bin/python tools/mutation.py                      # every module of [tool.mutmut]
    .venv/bin/python tools/mutation.py app/tickets.py       # some modules only
    .venv/bin/python tools/mutation.py --changed-since origin/main
    .venv/bin/python tools/mutation.py --list-equivalents   # the table for docs/testing.md

After a run, ``cd .mutation/tool && ../../.venv/bin/mutmut show NAME`` (or ``browse``) shows a
mutmut mutant.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
UNIT_TESTS = "tests/unit"
# What the unit tests import and read (tests/unit/test_docs_unit.py: tools.docs_gen, docs/configuration.md;
# tests/unit/test_rules_unit.py: the rules files shown in docs/; other tests: shipped files in deploy/).
SNAPSHOT_DIRS = ("app", "tests", "tools", "docs", "deploy")
SNAPSHOT_FILES: tuple[str, ...] = ()


@dataclass(frozen=True)
class HandMutant:
    """A mutant mutmut cannot make: each ``(find, replace)`` must occur exactly once in ``module``."""

    module: str
    name: str
    edits: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Equivalent:
    """A mutmut mutant that cannot change behaviour: the stripped lines its diff removes and adds."""

    module: str
    before: str
    after: str
    reason: str


def _m(module: str, name: str, *edits: tuple[str, str]) -> HandMutant:
    return HandMutant(f"app/{module}.py", name, edits)


CATALOGUE: tuple[HandMutant, ...] = (
    # requestid: what a proxy's id and traceparent may hold.
    _m(
        "requestid",
        "id pattern: a space accepted",
        (r'_VALID_ID = re.compile(r"[!-~]', r'_VALID_ID = re.compile(r"[ -~]'),
    ),
    _m("requestid", "traceparent: upper-case hex", ("([0-9a-f]{32})", "([0-9a-fA-F]{32})")),
    _m("requestid", "traceparent: a short trace id", ("([0-9a-f]{32})", "([0-9a-f]{31,32})")),
    _m("requestid", "traceparent: a short parent id", ("([0-9a-f]{16})", "([0-9a-f]{15,16})")),
    _m("requestid", "traceparent: one-digit flags", ("-([0-9a-f]{2})(-", "-([0-9a-f]{1,2})(-")),
    _m("requestid", "traceparent: any text after a future version", ("(-[!-~]*)?", "(-.*)?")),
    _m("requestid", "traceparent: a longer bound", ("MAX_TRACEPARENT = 512", "MAX_TRACEPARENT = 513")),
    _m(
        "requestid",
        "traceparent: a 31-zero trace id taken for all-zero",
        ('_ZERO_TRACE = "0" * 32', '_ZERO_TRACE = "0" * 31'),
    ),
    _m(
        "requestid",
        "traceparent: a 15-zero parent id taken for all-zero",
        ('_ZERO_PARENT = "0" * 16', '_ZERO_PARENT = "0" * 15'),
    ),
    _m(
        "requestid",
        "the made id kept under the proxy's header name",
        ('_MEMO = "\\0request-id"', '_MEMO = "x-request-id"'),
    ),
    # redirects: the host comparisons.
    _m(
        "redirects",
        "request host compared with endswith (evilapp.test for app.test)",
        ("if host == request_hostname.lower():", "if host.endswith(request_hostname.lower()):"),
    ),
    _m(
        "redirects",
        "domain compared with endswith, no dot boundary",
        ('return host == domain or host.endswith("." + domain)', "return host.endswith(domain)"),
    ),
    # policy: skip rules and the email rule.
    _m(
        "policy",
        "rules ignore case on every host (/PUBLIC/x public)",
        (
            "RuleSet([r.pattern for r in self.rules], ignore_case=self.ignore_case)",
            "RuleSet([r.pattern for r in self.rules], ignore_case=True)",
        ),
    ),
    _m(
        "policy",
        "an exact host no longer beats a wildcard",
        ("rules = self.exact.get(name)\n", "rules = None\n"),
    ),
    _m("policy", "empty local part passes the email rule", (r'r"[^@\s\x00-\x1f\x7f]+@(', r'r"[^@\s\x00-\x1f\x7f]*@(')),
    _m("policy", "local part may hold an @", (r'r"[^@\s\x00-\x1f\x7f]+@(', r'r"[^\s\x00-\x1f\x7f]+@(')),
    _m("policy", "local part may hold a space", (r'r"[^@\s\x00-\x1f\x7f]+@(', r'r"[^@\x00-\x1f\x7f]+@(')),
    _m(
        "policy",
        "email rule case-sensitive",
        (r'[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)", re.I', r'[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"'),
    ),
    _m("policy", "sub: prefix changed", ('SUB_PREFIX = "sub:"', 'SUB_PREFIX = "sub="')),
    # paths: the ambiguity patterns.
    _m("paths", "encoded separator without %2f", ('r"%(?:2f|5c)"', 'r"%(?:5c)"')),
    _m("paths", "encoded separator without %5c", ('r"%(?:2f|5c)"', 'r"%(?:2f)"')),
    _m("paths", "encoded separator case-sensitive", ('r"%(?:2f|5c)", re.I)', 'r"%(?:2f|5c)")')),
    _m(
        "paths",
        "space not ambiguous",
        (r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")', r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f]")'),
    ),
    _m(
        "paths",
        "DEL not ambiguous",
        (r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")', r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20]")'),
    ),
    _m("paths", "suspect pattern misses a raw #", (r'r"[%\\#;]|', r'r"[%\\;]|')),
    _m("paths", "suspect pattern misses %", (r'r"[%\\#;]|', r'r"[\\#;]|')),
    _m("paths", "suspect pattern misses ;", (r'r"[%\\#;]|', r'r"[%\\#]|')),
    _m("paths", "suspect pattern misses a backslash", (r'r"[%\\#;]|', r'r"[%#;]|')),
    _m("paths", "suspect pattern misses non-ASCII", (r"|[^\x21-\x7e]|", r"|[^\x21-\uffff]|")),
    _m("paths", "suspect pattern misses //", (r"|//|", r"|/x/|")),
    _m("paths", "suspect pattern misses '.' segments", (r"\.(?:/|$)", r"\.(?:/)")),
    _m("paths", "one decoding round fewer", ("_ROUNDS = 3", "_ROUNDS = 2")),
    # forwarded: clean_host and _method are @lru_cache'd, the patterns module-level.
    _m("forwarded", "port 0 accepted", ("not 0 < int(match.group(1)) < 65536", "not 0 <= int(match.group(1)) < 65536")),
    _m(
        "forwarded",
        "port 65536 accepted",
        ("not 0 < int(match.group(1)) < 65536", "not 0 < int(match.group(1)) <= 65536"),
    ),
    _m("forwarded", "host length not bounded", ("if host and len(host) <= 260 else None", "if host else None")),
    _m("forwarded", "host kept as sent (not lower-cased)", ("host = host.strip().lower()", "host = host.strip()")),
    _m(
        "forwarded",
        "host pattern: a host may end with '-'",
        (r"[a-z0-9_.-]{0,251}[a-z0-9_])?", r"[a-z0-9_.-]{0,252})?"),
    ),
    _m("forwarded", "host pattern: any IPv6 literal", (r"|\[[0-9a-f:.]+\])", r"|\[[^]]+\])")),
    _m("forwarded", "host pattern: six-digit port", ("(?::([0-9]{1,5}))?$", "(?::([0-9]{1,6}))?$")),
    _m(
        "forwarded",
        "method pattern unbounded",
        ('_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")', '_METHOD_RE = re.compile(r"^[A-Z]+$")'),
    ),
    _m("forwarded", "method not upper-cased", ("method = value.strip().upper()", "method = value.strip()")),
    _m(
        "forwarded",
        "absent method read as GET",
        ('if not value:\n        return ""', 'if not value:\n        return "GET"'),
    ),
    _m(
        "forwarded", "space allowed in path and query", (r're.compile(r"[^\x21-\x7e]")', r're.compile(r"[^\x20-\x7e]")')
    ),
    _m(
        "forwarded",
        "raw # ends the path",
        ('r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?]*)', 'r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)'),
    ),
    _m("forwarded", "MAX_URL_LENGTH doubled", ("MAX_URL_LENGTH = 8192", "MAX_URL_LENGTH = 16384")),
    # headers: the lists proxies are configured from, and value cleaning.
    _m("headers", "X-authentik-jwt left out of its header set", ('        ("X-authentik-jwt", "jwt"),\n', "")),
    _m(
        "headers",
        "x-auth-request-access-token not an identity header",
        ('_OTHER_IDENTITY_HEADERS = ("x-auth-request-access-token",)', "_OTHER_IDENTITY_HEADERS = ()"),
    ),
    _m("headers", "Remote-Email left out of its header set", ('        ("Remote-Email", "email"),\n', "")),
    _m(
        "headers",
        "authentik groups joined with ','",
        ('GROUP_DELIMITERS = {"authentik": "|"', 'GROUP_DELIMITERS = {"authentik": ","'),
    ),
    _m(
        "headers",
        "header names sent as configured, not lower-case",
        ("tuple((h.lower().encode(), what)", "tuple((h.encode(), what)"),
    ),
    _m(
        "headers",
        "DEL kept in values",
        (r'_CONTROL = re.compile(r"[\x00-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x1f]")'),
    ),
    _m("headers", "value limit doubled", ("MAX_VALUE_BYTES = 8192", "MAX_VALUE_BYTES = 16384")),
    _m(
        "headers",
        "Cookie not rewritten for the app",
        ('REWRITTEN_REQUEST_HEADERS = ("Cookie", "Authorization")', 'REWRITTEN_REQUEST_HEADERS = ("Authorization",)'),
    ),
    _m(
        "headers",
        "Authorization not rewritten for the app",
        ('REWRITTEN_REQUEST_HEADERS = ("Cookie", "Authorization")', 'REWRITTEN_REQUEST_HEADERS = ("Cookie",)'),
    ),
    _m(
        "headers",
        "X-authentik-entitlements left out of its header set",
        ('        ("X-authentik-entitlements", "entitlements"),\n', ""),
    ),
    _m(
        "headers",
        "X-authentik-meta-version left out of its header set",
        ('        ("X-authentik-meta-version", "meta-version"),\n', ""),
    ),
    _m(
        "headers",
        "default header sets: authentik only",
        ('DEFAULT_HEADER_SETS = ("authentik", "oauth2-proxy")', 'DEFAULT_HEADER_SETS = ("authentik",)'),
    ),
    _m(
        "headers",
        "look-alikes include the real names",
        ("for s in _spellings(name) - {name})", "for s in _spellings(name))"),
    ),
    # upstream: what an IdP may not set, and the bounds.
    _m(
        "upstream",
        "_ allowed in additional header names",
        ('_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")', '_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")'),
    ),
    _m(
        "upstream",
        "names matched by their start only",
        ("not _NAME.fullmatch(name):", "not _NAME.match(name):"),
    ),
    _m(
        "upstream",
        "LF allowed in values",
        (r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")'),
    ),
    _m(
        "upstream",
        "DEL allowed in values",
        (r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")'),
    ),
    _m(
        "upstream",
        "tab refused in values",
        (r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x1f\x7f]")'),
    ),
    _m("upstream", "identity headers settable", ("        *ALL_IDENTITY_HEADERS,\n", "")),
    _m("upstream", "Host settable", ('        "host",\n', "")),
    _m("upstream", "Cookie settable", ('        "cookie",\n', "")),
    _m("upstream", "Authorization settable", ('        "authorization",\n', "")),
    _m("upstream", "Transfer-Encoding settable", ('        "transfer-encoding",\n', "")),
    _m("upstream", "X-Real-IP settable", ('        "x-real-ip",\n', "")),
    _m("upstream", "X-Forwarded-* settable", ('RESERVED_PREFIXES = ("x-forwarded-", ', "RESERVED_PREFIXES = (")),
    _m("upstream", "X-Authgate-* settable", ('"sec-", "x-authgate-")', '"sec-")')),
    _m("upstream", "17 additional headers", ("MAX_HEADERS = 16", "MAX_HEADERS = 17")),
    _m("upstream", "names of 65 characters", ("MAX_NAME_LENGTH = 64", "MAX_NAME_LENGTH = 65")),
    _m("upstream", "value limit doubled", ("MAX_VALUE_BYTES = 4096", "MAX_VALUE_BYTES = 8192")),
    _m("upstream", "total limit doubled", ("MAX_TOTAL_BYTES = 8192", "MAX_TOTAL_BYTES = 16384")),
    # tickets: the format.
    _m("tickets", "16-byte ticket keys", ("_KEY_BYTES = 32", "_KEY_BYTES = 16")),
    _m("tickets", "8-byte session ids", ("_ID_BYTES = 16", "_ID_BYTES = 8")),
    _m("tickets", "cookie limit halved", ("_MAX_COOKIE = 512", "_MAX_COOKIE = 256")),
    _m("tickets", "SHA-1 signatures", ("digest_method=hashlib.sha256", "digest_method=hashlib.sha1")),
    # sealing: the stored format.
    _m(
        "sealing",
        "AES-128 (key[:16])",
        ("return nonce + AESGCM(key).encrypt(", "return nonce + AESGCM(key[:16]).encrypt("),
        ("plain = AESGCM(key).decrypt(", "plain = AESGCM(key[:16]).decrypt("),
    ),
    _m("sealing", "8-byte nonce", ("_NONCE = 12", "_NONCE = 8")),
    _m(
        "sealing",
        "session id not bound in",
        ("encrypt(nonce, plain, session_id.encode())", "encrypt(nonce, plain, None)"),
        ("blob[_NONCE:], session_id.encode())", "blob[_NONCE:], None)"),
    ),
    _m(
        "sealing",
        "data encoded with json's default separators",
        ('plain = json.dumps(data, separators=(",", ":")).encode()', "plain = json.dumps(data).encode()"),
    ),
    # lru
    _m("lru", "entries cost their key only", ("ENTRY_OVERHEAD = 256", "ENTRY_OVERHEAD = 0")),
    # cookies: the hot path's limits.
    _m("cookies", "more session cookie values verified", ("MAX_TICKETS = 4", "MAX_TICKETS = 8")),
    _m("cookies", "longer Cookie headers searched", ("MAX_COOKIE_HEADER = 32768", "MAX_COOKIE_HEADER = 65536")),
    _m("cookies", "longer Cookie headers remembered", ("_REMEMBERED_LENGTH = 4096", "_REMEMBERED_LENGTH = 65536")),
    # session_meta: the stored format and its key.
    _m(
        "session_meta",
        "the login cookie's info string",
        ('HKDF_INFO = b"authgate.session-meta.v1"', 'HKDF_INFO = b"authgate.login-state:"'),
    ),
    _m(
        "session_meta",
        "metadata in another hash slot",
        ('return f"ag:{{{session_id}}}:m"', 'return f"ag:m:{session_id}"'),
    ),
)

CODEC_CASE = "Python's codec names are case-insensitive: the same codec"


def _eq(module: str, before: str, after: str, reason: str) -> Equivalent:
    return Equivalent(f"app/{module}.py", before, after, reason)


# Survivors of mutmut that no test can kill, by what their diff removes and adds (stripped lines).
# docs/testing.md shows this list (`tools/mutation.py --list-equivalents`).
EQUIVALENT: tuple[Equivalent, ...] = (
    _eq(
        "forwarded",
        "key = f\"u\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{url}\"",
        "key = f\"u\\n{method or ''}\\n{'XX-XX' if routed is None else '=' + routed}\\n{url}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "forwarded",
        "key = f\"u\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{url}\"",
        "key = f\"u\\n{method or ''}\\n{'-' if routed is None else 'XX=XX' + routed}\\n{url}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "forwarded",
        "key = f\"i\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "key = f\"i\\n{method or ''}\\n{'XX-XX' if routed is None else '=' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "forwarded",
        "key = f\"i\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "key = f\"i\\n{method or ''}\\n{'-' if routed is None else 'XX=XX' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "forwarded",
        "end = len(forwarded_for)",
        "end = None",
        "str.rfind and slicing read an end of None as the string's length",
    ),
    _eq(
        "forwarded",
        'start = forwarded_for.rfind(",", 0, end) + 1',
        'start = forwarded_for.rfind(",", None, end) + 1',
        "str.rfind reads a start of None as 0",
    ),
    _eq(
        "redirects",
        'host = host.lower().rstrip(".")',
        'host = host.lower().rstrip("XX.XX")',
        "lower-cased first: there is no 'X' left to strip, only the dot",
    ),
    _eq(
        "redirects",
        'domain = domain.lower().rstrip(".")',
        'domain = domain.lower().rstrip("XX.XX")',
        "lower-cased first: there is no 'X' left to strip, only the dot",
    ),
    _eq(
        "policy",
        'tuple(d.lower().lstrip("@") for d in email_domains),',
        'tuple(d.lower().lstrip("XX@XX") for d in email_domains),',
        "lower-cased first: there is no 'X' left to strip, only the '@'",
    ),
    _eq(
        "policy",
        "return self.for_host(request.hostname) if self.exact or self.wildcards else self.default",
        "return self.for_host(request.hostname) if (self.exact or self.wildcards) or True else self.default",
        "for_host answers the default rules itself when the file names no host (the test only saves work)",
    ),
    _eq(
        "policy",
        "tuple(ipaddress.ip_network(n, strict=False) for n in networks),",
        "tuple(ipaddress.ip_network(n, strict=None) for n in networks),",
        "ip_network tests `strict` for truth: None is False",
    ),
    _eq(
        "paths",
        'return path, nginx, canonical_path(path) if ";" in path else nginx',
        'return path, nginx, canonical_path(path) if (";" in path) or True else nginx',
        "without a ';' the canonical form is nginx's resolution: the test only saves a pass",
    ),
    _eq("paths", 'data = raw.encode("latin-1")', 'data = raw.encode("LATIN-1")', CODEC_CASE),
    _eq(
        "paths",
        'data = raw.encode("utf-8", "replace")  # text from elsewhere (a test, `rules explain`)',
        'data = raw.encode("UTF-8", "replace")  # text from elsewhere (a test, `rules explain`)',
        CODEC_CASE,
    ),
    _eq("paths", 'return decoded.decode("utf-8"), True', 'return decoded.decode("UTF-8"), True', CODEC_CASE),
    _eq(
        "paths",
        'return decoded.decode("utf-8", "replace"), False',
        'return decoded.decode("UTF-8", "replace"), False',
        CODEC_CASE,
    ),
    _eq(
        "paths",
        'current = unquote_to_bytes(current.encode("latin-1")).decode("utf-8")',
        'current = unquote_to_bytes(current.encode("LATIN-1")).decode("utf-8")',
        CODEC_CASE,
    ),
    _eq(
        "paths",
        'current = unquote_to_bytes(current.encode("latin-1")).decode("utf-8")',
        'current = unquote_to_bytes(current.encode("latin-1")).decode("UTF-8")',
        CODEC_CASE,
    ),
    _eq(
        "forwarded",
        'scheme = parts.group(1).lower() if parts else ""',
        'scheme = parts.group(1).lower() if parts else "XXXX"',
        "without a match the next line refuses on `parts is None` before it reads the scheme",
    ),
    _eq(
        "upstream",
        "if len(credentials) > MAX_VALUE_BYTES:",
        "if len(credentials) >= MAX_VALUE_BYTES:",
        '"Basic " and base64 is 6 + 4k characters long, never exactly MAX_VALUE_BYTES (4096)',
    ),
    _eq(
        "forwarded",
        'scheme = _PROTOS.get(proto.split(",", maxsplit=1)[0].strip().lower())',
        'scheme = _PROTOS.get(proto.split(",", )[0].strip().lower())',
        "only the first item is read: how often the rest is split changes nothing",
    ),
    _eq(
        "forwarded",
        'scheme = _PROTOS.get(proto.split(",", maxsplit=1)[0].strip().lower())',
        'scheme = _PROTOS.get(proto.split(",", maxsplit=2)[0].strip().lower())',
        "only the first item is read: how often the rest is split changes nothing",
    ),
    _eq(
        "forwarded",
        "self._networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)",
        "self._networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=None) for c in cidrs)",
        "ip_network tests `strict` for truth: None is False",
    ),
    _eq(
        "forwarded",
        "self.contains = lru_cache(maxsize=1024)(self._contains)",
        "self.contains = lru_cache(maxsize=1025)(self._contains)",
        "one more remembered peer: a tuning of a bounded memo, not behaviour (boundedness is tested)",
    ),
    _eq(
        "headers",
        'raw = _CONTROL.sub(" ", value).strip().encode("utf-8", "replace")',
        'raw = _CONTROL.sub(" ", value).strip().encode("UTF-8", "replace")',
        CODEC_CASE,
    ),
    _eq(
        "headers",
        'raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")',
        'raw = raw[:limit].decode("UTF-8", "ignore").encode("utf-8")',
        CODEC_CASE,
    ),
    _eq(
        "headers",
        'raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")',
        'raw = raw[:limit].decode("utf-8", "ignore").encode("UTF-8")',
        CODEC_CASE,
    ),
    _eq(
        "headers",
        "if len(raw) > limit:",
        "if len(raw) >= limit:",
        "at exactly `limit` bytes the cut keeps every byte: raw is valid UTF-8 (encoded with 'replace')",
    ),
    _eq(
        "tickets",
        'sid = base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"=").decode()',
        'sid = base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"XX=XX").decode()',
        "base64 of 16 bytes ends in one of A, Q, g, w before its padding: never in an 'X' to strip",
    ),
    _eq(
        "tickets",
        "return cls(sid, secrets.token_bytes(_KEY_BYTES))",
        "return cls(sid, secrets.token_bytes(None))",
        "token_bytes(None) gives the secrets module's default, 32 bytes: _KEY_BYTES",
    ),
    _eq(
        "tickets",
        'key = base64.urlsafe_b64encode(ticket.key).rstrip(b"=").decode()',
        'key = base64.urlsafe_b64encode(ticket.key).rstrip(b"XX=XX").decode()',
        "base64 of 32 bytes ends in a multiple-of-4 letter (A, E, I ...) before its padding, never 'X'",
    ),
    _eq(
        "tickets",
        'payload = self._signer.unsign(value.encode("ascii")).decode("ascii")',
        'payload = self._signer.unsign(value.encode("ASCII")).decode("ascii")',
        CODEC_CASE,
    ),
    _eq(
        "tickets",
        'payload = self._signer.unsign(value.encode("ascii")).decode("ascii")',
        'payload = self._signer.unsign(value.encode("ascii")).decode("ASCII")',
        CODEC_CASE,
    ),
    _eq(
        "tickets",
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))',
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (+len(key_b64) % 4))',
        "adds three '=' where one is needed, else as many: Python's base64 decoder ignores surplus padding",
    ),
    _eq(
        "tickets",
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))',
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 5))',
        "a 32-byte key (43 characters) gets two '=' for one: Python's base64 decoder ignores the surplus",
    ),
    _eq(
        "sealing",
        "if len(blob) <= _NONCE:",
        "if len(blob) < _NONCE:",
        "a blob of the nonce alone then reaches AES-GCM, which refuses it (no tag): None either way",
    ),
    _eq(
        "lru",
        "old, _ = self._entries.popitem(last=False)",
        "old, _ = self._entries.popitem(last=None)",
        "popitem tests `last` for truth: None is False",
    ),
    _eq(
        "cookies",
        'return CookieView(tickets, forward.encode("latin-1"))',
        'return CookieView(tickets, forward.encode("LATIN-1"))',
        CODEC_CASE,
    ),
    _eq(
        "session_meta",
        "return HKDF(algorithm=SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode())",
        "return HKDF(algorithm=SHA256(), length=32, info=HKDF_INFO).derive(secret.encode())",
        "HKDF's salt defaults to None (a hash-length block of zeros), the documented format",
    ),
)


# --- running -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    source: str  # "mutmut" or "catalogue"
    name: str
    status: str  # killed, survived, no tests, timeout ...
    diff: str = ""
    equivalent: Equivalent | None = None


@dataclass
class ModuleResult:
    module: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, *, source: str | None = None, killed: bool | None = None, equivalent: bool = False) -> int:
        n = 0
        for o in self.outcomes:
            if source is not None and o.source != source:
                continue
            if (o.equivalent is not None) != equivalent:
                continue
            if killed is not None and is_killed(o.status) != killed:
                continue
            n += 1
        return n


def is_killed(status: str) -> bool:
    # A timeout or a crash is a test run the mutant made fail.
    return status in ("killed", "timeout", "segfault", "caught by type check")


def mutmut_config() -> dict[str, list[str]]:
    config: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return config


def configured_modules() -> list[str]:
    return list(mutmut_config()["only_mutate"])


def select_modules(args: argparse.Namespace) -> list[str]:
    modules = configured_modules()
    wanted: list[str] = []
    for name in args.modules:
        matches = [m for m in modules if m == name or Path(m).stem == name]
        if not matches:
            sys.exit(f"mutation: {name} is not one of the configured modules: {', '.join(modules)}")
        wanted += matches
    if args.changed_since:
        out = subprocess.run(
            ["git", "diff", "--name-only", args.changed_since, "--", *modules],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        wanted += [m for m in modules if m in out]
        if not wanted:
            print(f"mutation: no configured module changed since {args.changed_since}")
            sys.exit(0)
    selected = [m for m in modules if m in wanted] if wanted else modules
    return selected


def snapshot(target: Path) -> None:
    """app/, tests/ and what the unit tests need, copied without caches or node_modules."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".pytest_cache", "*.png")
    target.mkdir(parents=True)
    for name in SNAPSHOT_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target / name, ignore=ignore)
    for name in SNAPSHOT_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


def write_config(target: Path, modules: list[str]) -> None:
    """pyproject.toml with ``only_mutate`` narrowed to the selected modules."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = "".join(f'    "{m}",\n' for m in modules)
    text, n = re.subn(r"(?ms)^only_mutate = \[\n.*?^\]", f"only_mutate = [\n{listed}]", text)
    if n != 1:
        sys.exit("mutation: could not find only_mutate in [tool.mutmut]")
    (target / "pyproject.toml").write_text(text)


def run_mutmut(work: Path, jobs: int) -> None:
    log = work / "mutmut.log"
    with log.open("w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        sys.exit(f"mutation: mutmut run failed ({proc.returncode}); the end of {log}:\n{tail}")


def mutmut_outcomes(work: Path, modules: list[str]) -> dict[str, list[Outcome]]:
    os.chdir(work)  # mutmut's helpers read mutants/ and pyproject.toml from the working directory
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    result: dict[str, list[Outcome]] = {}
    for module in modules:
        meta_path = work / "mutants" / f"{module}.meta"
        codes = json.loads(meta_path.read_text())["exit_code_by_key"] if meta_path.exists() else {}
        outcomes = []
        for name, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
            status = status_by_exit_code[code]
            diff = "" if is_killed(status) else get_diff_for_mutant(name, path=module)
            outcomes.append(Outcome("mutmut", name, status, diff))
        result[module] = outcomes
    os.chdir(ROOT)
    return result


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return (stem, int(number) if number.isdigit() else 0)


def changed_lines(diff: str) -> tuple[str, str]:
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return "\n".join(removed), "\n".join(added)


def apply_edits(source: str, mutant: HandMutant) -> str | None:
    for find, replace in mutant.edits:
        if source.count(find) != 1:
            return None
        source = source.replace(find, replace)
    return source


def run_catalogue(trees: list[Path], modules: list[str]) -> tuple[dict[str, list[Outcome]], list[str]]:
    """Each hand-written mutant in one of ``trees`` (a snapshot each): the unit suite must fail."""
    mutants = [m for m in CATALOGUE if m.module in modules]
    stale: list[str] = []
    runnable: list[tuple[HandMutant, str]] = []
    for mutant in mutants:
        mutated = apply_edits((trees[0] / mutant.module).read_text(), mutant)
        if mutated is None:
            stale.append(f"{mutant.module}: catalogue mutant {mutant.name!r} no longer matches the code")
        else:
            runnable.append((mutant, mutated))

    free: queue.Queue[Path] = queue.Queue()
    for tree in trees:
        free.put(tree)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    pytest = [sys.executable, "-m", "pytest", "-x", "-q", *mutmut_config().get("pytest_add_cli_args", []), UNIT_TESTS]

    def check(item: tuple[HandMutant, str]) -> Outcome:
        mutant, mutated = item
        tree = free.get()
        target = tree / mutant.module
        original = target.read_text()
        try:
            target.write_text(mutated)
            proc = subprocess.run(
                pytest,
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            # 1: a test failed; 2-4: the mutant broke collection or pytest itself. Either way, caught.
            status = "survived" if proc.returncode == 0 else "killed"
        except subprocess.TimeoutExpired:
            status = "timeout"
        finally:
            target.write_text(original)
            free.put(tree)
        diff = "\n".join(
            "\n".join([*(f"-{line}" for line in find.splitlines()), *(f"+{line}" for line in replace.splitlines())])
            for find, replace in mutant.edits
        )
        return Outcome("catalogue", mutant.name, status, diff)

    # The copies must import their own app/, not the tree's (the editable install points there).
    probe = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=trees[0],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not probe.startswith(str(trees[0])):
        sys.exit(f"mutation: a copy of the tree imports app from {probe}, not from its own copy")
    # A failing suite would "kill" every mutant: it must pass unmutated first.
    clean = subprocess.run(pytest, cwd=trees[0], env=env, capture_output=True, text=True, check=False)
    if clean.returncode != 0:
        sys.exit(f"mutation: the unit tests fail without any mutant:\n{clean.stdout[-4000:]}")

    result: dict[str, list[Outcome]] = {m: [] for m in modules}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(trees)) as pool:
        for (mutant, _), outcome in zip(runnable, pool.map(check, runnable), strict=True):
            result[mutant.module].append(outcome)
    return result, stale


def mark_equivalents(results: list[ModuleResult]) -> list[str]:
    """Mark survivors listed in ``EQUIVALENT``; the entries (of these modules) that matched none."""
    used: set[Equivalent] = set()
    for res in results:
        for o in res.outcomes:
            if o.source != "mutmut" or is_killed(o.status):
                continue
            before, after = changed_lines(o.diff)
            for eq in EQUIVALENT:
                if eq.module == res.module and eq.before == before and eq.after == after:
                    o.equivalent = eq
                    used.add(eq)
                    break
    modules = {r.module for r in results}
    return [
        f"{eq.module}: equivalent mutant {eq.before!r} -> {eq.after!r} no longer survives or exists"
        for eq in EQUIVALENT
        if eq.module in modules and eq not in used
    ]


def score(killed: int, total: int) -> str:
    return f"{100.0 * killed / total:.1f}%" if total else "-"


def report(results: list[ModuleResult], stale: list[str], min_score: float, elapsed: float) -> int:
    print()
    header = (
        f"{'module':<20} {'mutmut':>13} {'catalogue':>11} {'equivalent':>10} {'killed':>7} {'survived':>8} {'score':>7}"
    )
    print(header)
    print("-" * len(header))
    total_killed = total = 0
    failing = []
    for r in results:
        mk, mn = r.count(source="mutmut", killed=True), r.count(source="mutmut")
        ck, cn = r.count(source="catalogue", killed=True), r.count(source="catalogue")
        eq = r.count(equivalent=True)
        killed, n = mk + ck, mn + cn
        total_killed += killed
        total += n
        rate = 100.0 * killed / n if n else 100.0
        if rate < min_score:
            failing.append(r.module)
        tool, hand = f"{mk}/{mn}", f"{ck}/{cn}"
        print(f"{r.module:<20} {tool:>13} {hand:>11} {eq:>10} {killed:>7} {n - killed:>8} {score(killed, n):>7}")
    print()
    survivors = [(r.module, o) for r in results for o in r.outcomes if o.equivalent is None and not is_killed(o.status)]
    if survivors:
        print(f"Survivors ({len(survivors)}):")
        for module, o in survivors:
            print(f"\n  {module} [{o.source}] {o.name}: {o.status}")
            body = [line for line in o.diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
            for line in body:
                print(f"      {line}")
        print()
    for line in stale:
        print(f"STALE: {line}")
    equivalents = sum(r.count(equivalent=True) for r in results)
    print(f"{equivalents} equivalent mutants left out of the score (docs/testing.md); {elapsed:.0f} s")
    if failing:
        print(f"under {min_score:g}%: {', '.join(failing)}")
    print(f"mutation score: {total_killed}/{total} killed ({score(total_killed, total)})")
    return 1 if failing or stale else 0


def list_equivalents() -> None:
    print("| module | mutant (before → after) | why no test kills it |")
    print("| --- | --- | --- |")
    for eq in EQUIVALENT:
        before = eq.before.replace("\n", " ⏎ ").replace("|", "\\|")
        after = eq.after.replace("\n", " ⏎ ").replace("|", "\\|")
        print(f"| `{eq.module}` | `{before}` → `{after}` | {eq.reason} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules of [tool.mutmut] only_mutate (path or stem)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel test runs")
    parser.add_argument("--min-score", type=float, default=95.0, help="lowest score a module may have (percent)")
    parser.add_argument("--changed-since", metavar="REF", help="only the modules that differ from this git ref")
    parser.add_argument("--no-catalogue", action="store_true", help="mutmut's mutants only")
    parser.add_argument("--list-equivalents", action="store_true", help="print EQUIVALENT as a Markdown table")
    args = parser.parse_args()
    if args.list_equivalents:
        list_equivalents()
        return 0

    modules = select_modules(args)
    start = time.monotonic()
    if WORK.exists():
        shutil.rmtree(WORK)
    # One snapshot of the tree, taken before anything runs: mutmut's and each catalogue worker's.
    tool = WORK / "tool"
    snapshot(tool)
    write_config(tool, modules)
    hand_trees = []
    if not args.no_catalogue:
        for i in range(args.jobs):
            hand_trees.append(WORK / f"hand-{i}")
            shutil.copytree(tool, hand_trees[-1])
    print(f"mutation: {len(modules)} modules, {args.jobs} jobs, work dir {WORK.relative_to(ROOT)}/", flush=True)
    run_mutmut(tool, args.jobs)
    print(f"mutation: mutmut done in {time.monotonic() - start:.0f} s", flush=True)
    by_module = mutmut_outcomes(tool, modules)
    stale: list[str] = []
    if not args.no_catalogue:
        hand, stale = run_catalogue(hand_trees, modules)
        for module, outcomes in hand.items():
            by_module[module] += outcomes
    results = [ModuleResult(m, by_module[m]) for m in modules]
    stale += mark_equivalents(results)
    return report(results, stale, args.min_score, time.monotonic() - start)


if __name__ == "__main__":
    sys.exit(main())
