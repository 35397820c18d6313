"""The catalogue: hand-written mutants of what mutmut cannot reach (docs/testing.md).

mutmut 3 mutates no module-level code and no decorated function (other than static and class
methods), and it does not edit regular expressions: the patterns, header lists, sizes and limits
defined at module level, ``clean_host`` and ``_method`` (``@lru_cache``), and the changes of meaning
a hand-run found surviving are listed here. Each is applied to a copy of the module and the unit
suite is run against it (tools/mutation/__main__.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandMutant:
    """A mutant mutmut cannot make: each ``(find, replace)`` must occur exactly once in ``module``."""

    module: str
    name: str
    edits: tuple[tuple[str, str], ...]


def _m(module: str, name: str, *edits: tuple[str, str]) -> HandMutant:
    return HandMutant(f"authgate/{module}.py", name, edits)


CATALOGUE: tuple[HandMutant, ...] = (
    # requestid: what a proxy's id and traceparent may hold.
    _m(
        "observability/requestid",
        "id pattern: a space accepted",
        (r'_VALID_ID = re.compile(r"[!-~]', r'_VALID_ID = re.compile(r"[ -~]'),
    ),
    _m("observability/requestid", "traceparent: upper-case hex", ("([0-9a-f]{32})", "([0-9a-fA-F]{32})")),
    _m("observability/requestid", "traceparent: a short trace id", ("([0-9a-f]{32})", "([0-9a-f]{31,32})")),
    _m("observability/requestid", "traceparent: a short parent id", ("([0-9a-f]{16})", "([0-9a-f]{15,16})")),
    _m("observability/requestid", "traceparent: one-digit flags", ("-([0-9a-f]{2})(-", "-([0-9a-f]{1,2})(-")),
    _m("observability/requestid", "traceparent: any text after a future version", ("(-[!-~]*)?", "(-.*)?")),
    _m("observability/requestid", "traceparent: a longer bound", ("MAX_TRACEPARENT = 512", "MAX_TRACEPARENT = 513")),
    _m(
        "observability/requestid",
        "traceparent: a 31-zero trace id taken for all-zero",
        ('_ZERO_TRACE = "0" * 32', '_ZERO_TRACE = "0" * 31'),
    ),
    _m(
        "observability/requestid",
        "traceparent: a 15-zero parent id taken for all-zero",
        ('_ZERO_PARENT = "0" * 16', '_ZERO_PARENT = "0" * 15'),
    ),
    _m(
        "observability/requestid",
        "the made id kept under the proxy's header name",
        ('_MEMO = "\\0request-id"', '_MEMO = "x-request-id"'),
    ),
    # redirects: the host comparisons.
    _m(
        "access/redirects",
        "request host compared with endswith (evilapp.test for app.test)",
        ("if host == request_hostname.lower():", "if host.endswith(request_hostname.lower()):"),
    ),
    _m(
        "access/redirects",
        "domain compared with endswith, no dot boundary",
        ('return host == domain or host.endswith("." + domain)', "return host.endswith(domain)"),
    ),
    # policy: skip rules and hosts; verdicts: the email rule.
    _m(
        "access/policy",
        "rules ignore case on every host (/PUBLIC/x public)",
        (
            "RuleSet([self.rules[i].pattern for i in ids], ignore_case=self.ignore_case)",
            "RuleSet([self.rules[i].pattern for i in ids], ignore_case=True)",
        ),
    ),
    _m(
        "access/policy",
        "an exact host no longer beats a wildcard",
        ("rules = self.exact.get(name)\n", "rules = None\n"),
    ),
    _m(
        "access/verdicts",
        "empty local part passes the email rule",
        (r'r"[^@\s\x00-\x1f\x7f]+@(', r'r"[^@\s\x00-\x1f\x7f]*@('),
    ),
    _m("access/verdicts", "local part may hold an @", (r'r"[^@\s\x00-\x1f\x7f]+@(', r'r"[^\s\x00-\x1f\x7f]+@(')),
    _m("access/verdicts", "local part may hold a space", (r'r"[^@\s\x00-\x1f\x7f]+@(', r'r"[^@\x00-\x1f\x7f]+@(')),
    _m(
        "access/verdicts",
        "email rule case-sensitive",
        (r'[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)", re.I', r'[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"'),
    ),
    _m("access/verdicts", "sub: prefix changed", ('SUB_PREFIX = "sub:"', 'SUB_PREFIX = "sub="')),
    # paths: the ambiguity patterns.
    _m("access/paths", "encoded separator without %2f", ('r"%(?:2f|5c)"', 'r"%(?:5c)"')),
    _m("access/paths", "encoded separator without %5c", ('r"%(?:2f|5c)"', 'r"%(?:2f)"')),
    _m("access/paths", "encoded separator case-sensitive", ('r"%(?:2f|5c)", re.I)', 'r"%(?:2f|5c)")')),
    _m(
        "access/paths",
        "space not ambiguous",
        (r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")', r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f]")'),
    ),
    _m(
        "access/paths",
        "DEL not ambiguous",
        (r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")', r'_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20]")'),
    ),
    _m("access/paths", "suspect pattern misses a raw #", (r'r"[%\\#;]|', r'r"[%\\;]|')),
    _m("access/paths", "suspect pattern misses %", (r'r"[%\\#;]|', r'r"[\\#;]|')),
    _m("access/paths", "suspect pattern misses ;", (r'r"[%\\#;]|', r'r"[%\\#]|')),
    _m("access/paths", "suspect pattern misses a backslash", (r'r"[%\\#;]|', r'r"[%#;]|')),
    _m("access/paths", "suspect pattern misses non-ASCII", (r"|[^\x21-\x7e]|", r"|[^\x21-\uffff]|")),
    _m("access/paths", "suspect pattern misses //", (r"|//|", r"|/x/|")),
    _m("access/paths", "suspect pattern misses '.' segments", (r"\.(?:/|$)", r"\.(?:/)")),
    _m("access/paths", "one decoding round fewer", ("_ROUNDS = 3", "_ROUNDS = 2")),
    # forwarded: clean_host and _method are @lru_cache'd, the patterns module-level.
    _m(
        "access/forwarded",
        "port 0 accepted",
        ("not 0 < int(match.group(1)) < 65536", "not 0 <= int(match.group(1)) < 65536"),
    ),
    _m(
        "access/forwarded",
        "port 65536 accepted",
        ("not 0 < int(match.group(1)) < 65536", "not 0 < int(match.group(1)) <= 65536"),
    ),
    _m("access/forwarded", "host length not bounded", ("if host and len(host) <= 260 else None", "if host else None")),
    _m(
        "access/forwarded",
        "host kept as sent (not lower-cased)",
        ("host = host.strip().lower()", "host = host.strip()"),
    ),
    _m(
        "access/forwarded",
        "host pattern: a host may end with '-'",
        (r"[a-z0-9_.-]{0,251}[a-z0-9_])?", r"[a-z0-9_.-]{0,252})?"),
    ),
    _m("access/forwarded", "host pattern: any IPv6 literal", (r"|\[[0-9a-f:.]+\])", r"|\[[^]]+\])")),
    _m("access/forwarded", "host pattern: six-digit port", ("(?::([0-9]{1,5}))?$", "(?::([0-9]{1,6}))?$")),
    _m(
        "access/forwarded",
        "method pattern unbounded",
        ('_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")', '_METHOD_RE = re.compile(r"^[A-Z]+$")'),
    ),
    _m("access/forwarded", "method not upper-cased", ("method = value.strip().upper()", "method = value.strip()")),
    _m(
        "access/forwarded",
        "absent method read as GET",
        ('if not value:\n        return ""', 'if not value:\n        return "GET"'),
    ),
    _m(
        "access/forwarded",
        "space allowed in path and query",
        (r're.compile(r"[^\x21-\x7e]")', r're.compile(r"[^\x20-\x7e]")'),
    ),
    _m(
        "access/forwarded",
        "raw # ends the path",
        ('r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?]*)', 'r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)'),
    ),
    _m("access/forwarded", "MAX_URL_LENGTH doubled", ("MAX_URL_LENGTH = 8192", "MAX_URL_LENGTH = 16384")),
    # headers: the lists proxies are configured from, and value cleaning.
    _m(
        "access/identity_headers",
        "X-authentik-jwt left out of its header set",
        ('        ("X-authentik-jwt", "jwt"),\n', ""),
    ),
    _m(
        "access/identity_headers",
        "x-auth-request-access-token not an identity header",
        ('_OTHER_IDENTITY_HEADERS = ("x-auth-request-access-token",)', "_OTHER_IDENTITY_HEADERS = ()"),
    ),
    _m(
        "access/identity_headers",
        "Remote-Email left out of its header set",
        ('        ("Remote-Email", "email"),\n', ""),
    ),
    _m(
        "access/identity_headers",
        "authentik groups joined with ','",
        ('GROUP_DELIMITERS = {"authentik": "|"', 'GROUP_DELIMITERS = {"authentik": ","'),
    ),
    _m(
        "access/identity_headers",
        "header names sent as configured, not lower-case",
        ("tuple((h.lower().encode(), what)", "tuple((h.encode(), what)"),
    ),
    _m(
        "access/identity_headers",
        "DEL kept in values",
        (r'_CONTROL = re.compile(r"[\x00-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x1f]")'),
    ),
    _m("access/identity_headers", "value limit doubled", ("MAX_VALUE_BYTES = 8192", "MAX_VALUE_BYTES = 16384")),
    _m(
        "access/identity_headers",
        "Cookie not rewritten for the app",
        ('REWRITTEN_REQUEST_HEADERS = ("Cookie", "Authorization")', 'REWRITTEN_REQUEST_HEADERS = ("Authorization",)'),
    ),
    _m(
        "access/identity_headers",
        "Authorization not rewritten for the app",
        ('REWRITTEN_REQUEST_HEADERS = ("Cookie", "Authorization")', 'REWRITTEN_REQUEST_HEADERS = ("Cookie",)'),
    ),
    _m(
        "access/identity_headers",
        "X-authentik-entitlements left out of its header set",
        ('        ("X-authentik-entitlements", "entitlements"),\n', ""),
    ),
    _m(
        "access/identity_headers",
        "X-authentik-meta-version left out of its header set",
        ('        ("X-authentik-meta-version", "meta-version"),\n', ""),
    ),
    _m(
        "access/identity_headers",
        "default header sets: authentik only",
        ('DEFAULT_HEADER_SETS = ("authentik", "oauth2-proxy")', 'DEFAULT_HEADER_SETS = ("authentik",)'),
    ),
    _m(
        "access/identity_headers",
        "look-alikes include the real names",
        ("for s in _spellings(name) - {name})", "for s in _spellings(name))"),
    ),
    _m(
        "access/identity_headers",
        "look-alikes: the dot spellings forgotten (PHP reads '.' as '_')",
        ('((ch, "_", ".") if ch == "-"', '((ch, "_") if ch == "-"'),
    ),
    # upstream: what an IdP may not set, and the bounds.
    _m(
        "access/upstream",
        "_ allowed in additional header names",
        ('_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")', '_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")'),
    ),
    _m(
        "access/upstream",
        "names matched by their start only",
        ("not _NAME.fullmatch(name):", "not _NAME.match(name):"),
    ),
    _m(
        "access/upstream",
        "LF allowed in values",
        (r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")'),
    ),
    _m(
        "access/upstream",
        "DEL allowed in values",
        (r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")'),
    ),
    _m(
        "access/upstream",
        "tab refused in values",
        (r'_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")', r'_CONTROL = re.compile(r"[\x00-\x1f\x7f]")'),
    ),
    _m("access/upstream", "identity headers settable", ("        *ALL_IDENTITY_HEADERS,\n", "")),
    _m("access/upstream", "Host settable", ('        "host",\n', "")),
    _m("access/upstream", "Cookie settable", ('        "cookie",\n', "")),
    _m("access/upstream", "Authorization settable", ('        "authorization",\n', "")),
    _m("access/upstream", "Transfer-Encoding settable", ('        "transfer-encoding",\n', "")),
    _m("access/upstream", "X-Real-IP settable", ('        "x-real-ip",\n', "")),
    _m("access/upstream", "X-Forwarded-* settable", ('RESERVED_PREFIXES = ("x-forwarded-", ', "RESERVED_PREFIXES = (")),
    _m("access/upstream", "X-Authgate-* settable", ('"sec-", "x-authgate-")', '"sec-")')),
    _m("access/upstream", "17 additional headers", ("MAX_HEADERS = 16", "MAX_HEADERS = 17")),
    _m("access/upstream", "names of 65 characters", ("MAX_NAME_LENGTH = 64", "MAX_NAME_LENGTH = 65")),
    _m("access/upstream", "value limit doubled", ("MAX_VALUE_BYTES = 4096", "MAX_VALUE_BYTES = 8192")),
    _m("access/upstream", "total limit doubled", ("MAX_TOTAL_BYTES = 8192", "MAX_TOTAL_BYTES = 16384")),
    # tickets: the format.
    _m("session/tickets", "16-byte ticket keys", ("_KEY_BYTES = 32", "_KEY_BYTES = 16")),
    _m("session/tickets", "8-byte session ids", ("_ID_BYTES = 16", "_ID_BYTES = 8")),
    _m("session/tickets", "cookie limit halved", ("_MAX_COOKIE = 512", "_MAX_COOKIE = 256")),
    _m("session/tickets", "SHA-1 signatures", ("digest_method=hashlib.sha256", "digest_method=hashlib.sha1")),
    # sealing: the stored format.
    _m(
        "session/sealing",
        "AES-128 (key[:16])",
        ("return nonce + AESGCM(key).encrypt(", "return nonce + AESGCM(key[:16]).encrypt("),
        ("plain = AESGCM(key).decrypt(", "plain = AESGCM(key[:16]).decrypt("),
    ),
    _m("session/sealing", "8-byte nonce", ("_NONCE = 12", "_NONCE = 8")),
    _m(
        "session/sealing",
        "session id not bound in",
        ("encrypt(nonce, plain, session_id.encode())", "encrypt(nonce, plain, None)"),
        ("blob[_NONCE:], session_id.encode())", "blob[_NONCE:], None)"),
    ),
    _m(
        "session/sealing",
        "data encoded with json's default separators",
        ('plain = json.dumps(data, separators=(",", ":")).encode()', "plain = json.dumps(data).encode()"),
    ),
    # lru
    _m("lru", "entries cost their key only", ("ENTRY_OVERHEAD = 256", "ENTRY_OVERHEAD = 0")),
    # cookies: the hot path's limits.
    _m("session/cookies", "more session cookie values verified", ("MAX_TICKETS = 4", "MAX_TICKETS = 8")),
    _m("session/cookies", "longer Cookie headers searched", ("MAX_COOKIE_HEADER = 32768", "MAX_COOKIE_HEADER = 65536")),
    _m(
        "session/cookies",
        "longer Cookie headers remembered",
        ("_REMEMBERED_LENGTH = 4096", "_REMEMBERED_LENGTH = 65536"),
    ),
    # session_meta: the stored format and its key.
    _m(
        "session/meta",
        "the login cookie's info string",
        ('HKDF_INFO = b"authgate.session-meta.v1"', 'HKDF_INFO = b"authgate.login-state:"'),
    ),
    _m(
        "store/keys",
        "metadata in another hash slot",
        ('return f"ag:{{{session_id}}}:m"', 'return f"ag:m:{session_id}"'),
    ),
)
