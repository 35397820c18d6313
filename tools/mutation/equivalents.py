"""Equivalent mutants: survivors of mutmut that no test can kill, each with its reason.

They are left out of the score. docs/testing.md shows this list as a table, generated from here
by tools/docs_gen.py and checked by tests/unit/test_docs.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Equivalent:
    """A mutmut mutant that cannot change behaviour: the stripped lines its diff removes and adds."""

    module: str
    before: str
    after: str
    reason: str


CODEC_CASE = "Python's codec names are case-insensitive: the same codec"


def _eq(module: str, before: str, after: str, reason: str) -> Equivalent:
    return Equivalent(f"authgate/{module}.py", before, after, reason)


# Survivors of mutmut that no test can kill, by what their diff removes and adds (stripped lines).
# docs/testing.md shows this list (generated: tools/docs_gen.py).
EQUIVALENT: tuple[Equivalent, ...] = (
    _eq(
        "access/forwarded",
        "key = f\"u\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{url}\"",
        "key = f\"u\\n{method or ''}\\n{'XX-XX' if routed is None else '=' + routed}\\n{url}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "access/forwarded",
        "key = f\"u\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{url}\"",
        "key = f\"u\\n{method or ''}\\n{'-' if routed is None else 'XX=XX' + routed}\\n{url}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "access/forwarded",
        "key = f\"i\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "key = f\"i\\n{method or ''}\\n{'XX-XX' if routed is None else '=' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "access/forwarded",
        "key = f\"i\\n{method or ''}\\n{'-' if routed is None else '=' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "key = f\"i\\n{method or ''}\\n{'-' if routed is None else 'XX=XX' + routed}\\n{host}\\n{proto}\\n{uri}\"",
        "the markers only keep a missing X-Original-Host apart from any value of it; other markers do too",
    ),
    _eq(
        "access/forwarded",
        "original = from_original(headers, default_scheme=scheme)",
        "original = from_original(headers, default_scheme=None)",
        "browser_origin calls it only with X-Original-URL, whose own scheme is used: the default is never read",
    ),
    _eq(
        "access/forwarded",
        "end = len(forwarded_for)",
        "end = None",
        "str.rfind and slicing read an end of None as the string's length",
    ),
    _eq(
        "access/forwarded",
        'start = forwarded_for.rfind(",", 0, end) + 1',
        'start = forwarded_for.rfind(",", None, end) + 1',
        "str.rfind reads a start of None as 0",
    ),
    _eq(
        "access/redirects",
        'host = host.lower().rstrip(".")',
        'host = host.lower().rstrip("XX.XX")',
        "lower-cased first: there is no 'X' left to strip, only the dot",
    ),
    _eq(
        "access/redirects",
        'domain = domain.lower().rstrip(".")',
        'domain = domain.lower().rstrip("XX.XX")',
        "lower-cased first: there is no 'X' left to strip, only the dot",
    ),
    _eq(
        "access/verdicts",
        'tuple(d.lower().lstrip("@") for d in email_domains),',
        'tuple(d.lower().lstrip("XX@XX") for d in email_domains),',
        "lower-cased first: there is no 'X' left to strip, only the '@'",
    ),
    _eq(
        "access/policy",
        "where = (request.origin, request.query) if self.ids[1] else None  # only URL rules read it",
        "where = (request.origin, request.query) if (self.ids[1]) or True else None  # only URL rules read it",
        "without URL rules nothing reads `where` (the test only saves building the origin)",
    ),
    _eq(
        "access/policy",
        "return self.for_host(request.hostname) if self.exact or self.wildcards else self.default",
        "return self.for_host(request.hostname) if (self.exact or self.wildcards) or True else self.default",
        "for_host answers the default rules itself when the file names no host (the test only saves work)",
    ),
    _eq(
        "access/verdicts",
        "tuple(ipaddress.ip_network(n, strict=False) for n in networks),",
        "tuple(ipaddress.ip_network(n, strict=None) for n in networks),",
        "ip_network tests `strict` for truth: None is False",
    ),
    _eq(
        "access/paths",
        'return path, nginx, canonical_path(path) if ";" in path else nginx',
        'return path, nginx, canonical_path(path) if (";" in path) or True else nginx',
        "without a ';' the canonical form is nginx's resolution: the test only saves a pass",
    ),
    _eq("access/paths", 'data = raw.encode("latin-1")', 'data = raw.encode("LATIN-1")', CODEC_CASE),
    _eq(
        "access/paths",
        'data = raw.encode("utf-8", "replace")  # text from elsewhere (a test, `rules explain`)',
        'data = raw.encode("UTF-8", "replace")  # text from elsewhere (a test, `rules explain`)',
        CODEC_CASE,
    ),
    _eq("access/paths", 'return decoded.decode("utf-8"), True', 'return decoded.decode("UTF-8"), True', CODEC_CASE),
    _eq(
        "access/paths",
        'return decoded.decode("utf-8", "replace"), False',
        'return decoded.decode("UTF-8", "replace"), False',
        CODEC_CASE,
    ),
    _eq(
        "access/paths",
        'current = unquote_to_bytes(current.encode("latin-1")).decode("utf-8")',
        'current = unquote_to_bytes(current.encode("LATIN-1")).decode("utf-8")',
        CODEC_CASE,
    ),
    _eq(
        "access/paths",
        'current = unquote_to_bytes(current.encode("latin-1")).decode("utf-8")',
        'current = unquote_to_bytes(current.encode("latin-1")).decode("UTF-8")',
        CODEC_CASE,
    ),
    _eq(
        "access/forwarded",
        'scheme = parts.group(1).lower() if parts else ""',
        'scheme = parts.group(1).lower() if parts else "XXXX"',
        "without a match the next line refuses on `parts is None` before it reads the scheme",
    ),
    _eq(
        "access/upstream",
        "if len(credentials) > MAX_VALUE_BYTES:",
        "if len(credentials) >= MAX_VALUE_BYTES:",
        '"Basic " and base64 is 6 + 4k characters long, never exactly MAX_VALUE_BYTES (4096)',
    ),
    _eq(
        "access/forwarded",
        'scheme = _PROTOS.get(proto.split(",", maxsplit=1)[0].strip().lower())',
        'scheme = _PROTOS.get(proto.split(",", )[0].strip().lower())',
        "only the first item is read: how often the rest is split changes nothing",
    ),
    _eq(
        "access/forwarded",
        'scheme = _PROTOS.get(proto.split(",", maxsplit=1)[0].strip().lower())',
        'scheme = _PROTOS.get(proto.split(",", maxsplit=2)[0].strip().lower())',
        "only the first item is read: how often the rest is split changes nothing",
    ),
    _eq(
        "access/forwarded",
        "self._networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)",
        "self._networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=None) for c in cidrs)",
        "ip_network tests `strict` for truth: None is False",
    ),
    _eq(
        "access/forwarded",
        "self.contains = lru_cache(maxsize=1024)(self._contains)",
        "self.contains = lru_cache(maxsize=1025)(self._contains)",
        "one more remembered peer: a tuning of a bounded memo, not behaviour (boundedness is tested)",
    ),
    _eq(
        "access/identity_headers",
        'raw = _CONTROL.sub(" ", value).strip().encode("utf-8", "replace")',
        'raw = _CONTROL.sub(" ", value).strip().encode("UTF-8", "replace")',
        CODEC_CASE,
    ),
    _eq(
        "access/identity_headers",
        'raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")',
        'raw = raw[:limit].decode("UTF-8", "ignore").encode("utf-8")',
        CODEC_CASE,
    ),
    _eq(
        "access/identity_headers",
        'raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")',
        'raw = raw[:limit].decode("utf-8", "ignore").encode("UTF-8")',
        CODEC_CASE,
    ),
    _eq(
        "access/identity_headers",
        "if len(raw) > limit:",
        "if len(raw) >= limit:",
        "at exactly `limit` bytes the cut keeps every byte: raw is valid UTF-8 (encoded with 'replace')",
    ),
    _eq(
        "session/tickets",
        'sid = base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"=").decode()',
        'sid = base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"XX=XX").decode()',
        "base64 of 16 bytes ends in one of A, Q, g, w before its padding: never in an 'X' to strip",
    ),
    _eq(
        "session/tickets",
        "return cls(sid, secrets.token_bytes(_KEY_BYTES))",
        "return cls(sid, secrets.token_bytes(None))",
        "token_bytes(None) gives the secrets module's default, 32 bytes: _KEY_BYTES",
    ),
    _eq(
        "session/tickets",
        'key = base64.urlsafe_b64encode(ticket.key).rstrip(b"=").decode()',
        'key = base64.urlsafe_b64encode(ticket.key).rstrip(b"XX=XX").decode()',
        "base64 of 32 bytes ends in a multiple-of-4 letter (A, E, I ...) before its padding, never 'X'",
    ),
    _eq(
        "session/tickets",
        'payload = self._signer.unsign(value.encode("ascii")).decode("ascii")',
        'payload = self._signer.unsign(value.encode("ASCII")).decode("ascii")',
        CODEC_CASE,
    ),
    _eq(
        "session/tickets",
        'payload = self._signer.unsign(value.encode("ascii")).decode("ascii")',
        'payload = self._signer.unsign(value.encode("ascii")).decode("ASCII")',
        CODEC_CASE,
    ),
    _eq(
        "session/tickets",
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))',
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (+len(key_b64) % 4))',
        "adds three '=' where one is needed, else as many: Python's base64 decoder ignores surplus padding",
    ),
    _eq(
        "session/tickets",
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))',
        'key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 5))',
        "a 32-byte key (43 characters) gets two '=' for one: Python's base64 decoder ignores the surplus",
    ),
    _eq(
        "session/sealing",
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
        "session/cookies",
        'return CookieView(tickets, forward.encode("latin-1"))',
        'return CookieView(tickets, forward.encode("LATIN-1"))',
        CODEC_CASE,
    ),
    _eq(
        "lru",
        "self._entries.popitem(last=False)",
        "self._entries.popitem(last=None)",
        "popitem tests `last` for truth: None is False",
    ),
    _eq(
        "store/keys",
        'material = f"{lane}\\n{username.lower()}".encode("utf-8", "surrogatepass")',
        'material = f"{lane}\\n{username.lower()}".encode("UTF-8", "surrogatepass")',
        CODEC_CASE,
    ),
    _eq(
        "session/meta",
        "return HKDF(algorithm=SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode())",
        "return HKDF(algorithm=SHA256(), length=32, info=HKDF_INFO).derive(secret.encode())",
        "HKDF's salt defaults to None (a hash-length block of zeros), the documented format",
    ),
)


def table() -> str:
    """``EQUIVALENT`` as the Markdown table docs/testing.md shows (tools/docs_gen.py writes it there)."""
    rows = ["| module | mutant (before → after) | why no test kills it |", "| --- | --- | --- |"]
    for eq in EQUIVALENT:
        before = eq.before.replace("\n", " ⏎ ").replace("|", "\\|")
        after = eq.after.replace("\n", " ⏎ ").replace("|", "\\|")
        rows.append(f"| `{eq.module}` | `{before}` → `{after}` | {eq.reason} |")
    return "\n".join(rows) + "\n"
