"""Identity headers: names per header set, values safe to forward."""

from __future__ import annotations

import pytest

from authgate.access.identity_headers import (
    ALL_IDENTITY_HEADERS,
    DEFAULT_HEADER_SETS,
    HEADER_SETS,
    LOOKALIKE_HEADERS,
    MAX_VALUE_BYTES,
    Meta,
    _spellings,
    groups_left_out,
    header_names,
    identity_headers,
    managed_headers,
    safe_value,
)
from authgate.config.settings import HEADER_SET_NAMES
from authgate.model import Identity

ALICE = Identity(
    sub="a1b2c3",
    username="alice",
    email="alice@corp.test",
    name="Alice Zoë",
    groups=("admins", "ops team", "dev"),
)


def as_dict(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    out = dict(headers)
    assert len(out) == len(headers), "a header name was emitted twice"
    return out


# --- safe_value ---------------------------------------------------------------------------------


def test_plain_ascii_is_unchanged() -> None:
    assert safe_value("alice") == b"alice"
    assert safe_value("") == b""


def test_utf8_bytes_are_sent_as_they_are() -> None:
    assert safe_value("Zoë") == b"Zo\xc3\xab"
    assert safe_value("名前") == "名前".encode()
    assert safe_value("🙂") == b"\xf0\x9f\x99\x82"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb", b"a  b"),
        ("a\rb", b"a b"),
        ("a\nb", b"a b"),
        ("a\x00b", b"a b"),
        ("a\x7fb", b"a b"),
        ("a\tb", b"a b"),
        ("a\x1bb", b"a b"),
        ("evil\r\nX-authentik-groups: admins", b"evil  X-authentik-groups: admins"),
        ("\r\nalice\r\n", b"alice"),
        ("  alice  ", b"alice"),
    ],
)
def test_control_characters_are_neutralised(raw: str, expected: bytes) -> None:
    got = safe_value(raw)
    assert got == expected
    assert b"\r" not in got
    assert b"\n" not in got
    assert b"\x00" not in got


def test_no_byte_below_space_ever_survives() -> None:
    raw = "".join(chr(c) for c in range(0x80)) + "é"
    got = safe_value(raw)
    assert all(b >= 0x20 and b != 0x7F for b in got)
    assert got.endswith("é".encode())


def test_long_ascii_is_cut_at_the_limit() -> None:
    assert safe_value("a" * (MAX_VALUE_BYTES + 100)) == b"a" * MAX_VALUE_BYTES
    assert safe_value("a" * MAX_VALUE_BYTES) == b"a" * MAX_VALUE_BYTES
    assert safe_value("abcdef", limit=3) == b"abc"


@pytest.mark.parametrize(
    ("prefix", "char"),
    [("", "é"), ("a", "é"), ("a", "€"), ("ab", "€"), ("a", "🙂"), ("ab", "🙂"), ("abc", "🙂")],
)
def test_cut_lands_on_a_character_boundary(prefix: str, char: str) -> None:
    value = prefix + char * MAX_VALUE_BYTES
    got = safe_value(value)
    assert len(got) <= MAX_VALUE_BYTES
    assert len(got) > MAX_VALUE_BYTES - len(char.encode())  # nothing more than the split char is lost
    decoded = got.decode("utf-8")  # strict: raises on a split character
    assert decoded == prefix + char * ((len(got) - len(prefix)) // len(char.encode()))


def test_cut_with_small_limit() -> None:
    assert safe_value("Zoë", limit=3) == b"Zo"
    assert safe_value("Zoë", limit=4) == b"Zo\xc3\xab"
    assert safe_value("ë", limit=1) == b""


def test_lone_surrogate_does_not_raise() -> None:
    got = safe_value("bad\ud800name")
    assert got.startswith(b"bad")
    assert got.endswith(b"name")


# --- identity_headers ---------------------------------------------------------------------------


def test_authentik_set() -> None:
    h = as_dict(identity_headers(ALICE, "tok.en.jwt", ["authentik"]))
    assert h == {
        b"x-authentik-username": b"alice",
        b"x-authentik-groups": b"admins|ops team|dev",
        b"x-authentik-email": b"alice@corp.test",
        b"x-authentik-name": b"Alice Zo\xc3\xab",
        b"x-authentik-uid": b"a1b2c3",
        b"x-authentik-jwt": b"tok.en.jwt",
    }


def test_oauth2_proxy_set() -> None:
    h = as_dict(identity_headers(ALICE, "tok", ["oauth2-proxy"]))
    assert h == {
        b"x-auth-request-user": b"alice",
        b"x-auth-request-email": b"alice@corp.test",
        b"x-auth-request-groups": b"admins,ops team,dev",
        b"x-auth-request-preferred-username": b"alice",
    }


def test_authelia_set_only_when_asked() -> None:
    default = as_dict(identity_headers(ALICE, "tok", ["authentik", "oauth2-proxy"]))
    assert not any(name.startswith(b"remote-") for name in default)

    h = as_dict(identity_headers(ALICE, "tok", ["authelia"]))
    assert h == {
        b"remote-user": b"alice",
        b"remote-groups": b"admins,ops team,dev",
        b"remote-name": b"Alice Zo\xc3\xab",
        b"remote-email": b"alice@corp.test",
    }


def test_sets_combine_in_order() -> None:
    headers = identity_headers(ALICE, "tok", ["oauth2-proxy", "authentik"])
    names = [n for n, _ in headers]
    assert names[0] == b"x-auth-request-user"
    assert names[-1] == b"x-authentik-jwt"
    assert len(names) == 10


def test_unknown_and_empty_sets_emit_nothing() -> None:
    assert identity_headers(ALICE, "tok", []) == []
    assert identity_headers(ALICE, "tok", ["nope", "Authentik"]) == []


def test_names_are_lowercase_and_all_known() -> None:
    headers = identity_headers(ALICE, "tok", ["authentik", "oauth2-proxy", "authelia"])
    for name, value in headers:
        assert isinstance(name, bytes)
        assert isinstance(value, bytes)
        assert name == name.lower()
        assert name.decode() in ALL_IDENTITY_HEADERS


def test_empty_values_are_not_sent() -> None:
    """The proxies drop a client's copy of any header authgate does not send (tested end to end)."""
    who = Identity(sub="s1")
    h = as_dict(identity_headers(who, "", ["authentik", "oauth2-proxy"]))
    assert b"x-authentik-groups" not in h
    assert b"x-auth-request-groups" not in h
    assert b"x-authentik-jwt" not in h
    assert h[b"x-authentik-uid"] == b"s1"


def test_hostile_claims_cannot_split_or_add_headers() -> None:
    evil = Identity(
        sub="s\r\n",
        username="bob\r\nX-authentik-groups: admins",
        email="bob@x.test\n",
        name="\x00Bob",
        groups=("users\r\nX-Injected: 1", "staff"),
    )
    headers = identity_headers(evil, "at\r\nX-Evil: 1", ["authentik", "oauth2-proxy", "authelia"])
    for _, value in headers:
        assert b"\r" not in value
        assert b"\n" not in value
        assert b"\x00" not in value
    h = as_dict(headers)
    assert h[b"x-authentik-username"] == b"bob  X-authentik-groups: admins"
    assert h[b"x-authentik-groups"] == b"users  X-Injected: 1|staff"
    assert h[b"x-auth-request-groups"] == b"users  X-Injected: 1,staff"


def test_jwt_has_a_larger_limit_than_claims() -> None:
    token = "t" * (MAX_VALUE_BYTES * 2)
    who = Identity(sub="s", name="n" * (MAX_VALUE_BYTES * 2))
    h = as_dict(identity_headers(who, token, ["authentik"]))
    assert h[b"x-authentik-jwt"] == token.encode()
    assert len(h[b"x-authentik-name"]) == MAX_VALUE_BYTES
    huge = "t" * 70_000
    assert len(as_dict(identity_headers(who, huge, ["authentik"]))[b"x-authentik-jwt"]) == 65536


def test_many_groups_are_cut_not_dropped() -> None:
    groups = tuple(f"group-{i:05d}" for i in range(2000))
    h = as_dict(identity_headers(Identity(sub="s", groups=groups), "", ["authentik"]))
    value = h[b"x-authentik-groups"]
    assert len(value) == MAX_VALUE_BYTES
    assert value.startswith(b"group-00000|group-00001|")


def test_identity_from_claims_feeds_headers() -> None:
    who = Identity.from_claims(
        {"sub": "u1", "preferred_username": "zoë", "email": "z@corp.test", "name": "Zoë", "groups": "solo"}
    )
    h = as_dict(identity_headers(who, "tok", ["authentik"]))
    assert h[b"x-authentik-username"] == b"zo\xc3\xab"
    assert h[b"x-authentik-groups"] == b"solo"


# --- Header delimiters and look-alikes ------------------------------------------------------------


def test_a_group_holding_a_delimiter_is_left_out_of_that_header_only() -> None:
    who = Identity(sub="s", username="u", groups=("ops|admins", "a,b", "staff"))
    sent = dict(identity_headers(who, "t", ["authentik", "oauth2-proxy", "authelia"]))
    assert sent[b"x-authentik-groups"] == b"a,b|staff"
    assert sent[b"x-auth-request-groups"] == b"ops|admins,staff"
    assert sent[b"remote-groups"] == b"ops|admins,staff"
    assert groups_left_out(who.groups, ["authentik"]) == ["ops|admins"]
    assert groups_left_out(who.groups, ["authentik", "oauth2-proxy"]) == ["ops|admins", "a,b"]


def test_every_underscore_or_dot_spelling_of_an_emitted_name_is_a_lookalike() -> None:
    assert b"x-authentik_username" in LOOKALIKE_HEADERS
    assert b"x_authentik_username" in LOOKALIKE_HEADERS
    assert b"x-auth-request-preferred_username" in LOOKALIKE_HEADERS
    assert b"remote_user" in LOOKALIKE_HEADERS
    # PHP reads "." as "_" too: Caddy's php_fastcgi passes `X.Authentik.Username` as
    # HTTP_X.AUTHENTIK.USERNAME, which PHP files under $_SERVER['HTTP_X_AUTHENTIK_USERNAME'].
    assert b"x.authentik.username" in LOOKALIKE_HEADERS
    assert b"x-authentik.username" in LOOKALIKE_HEADERS
    assert b"x.authentik_username" in LOOKALIKE_HEADERS
    assert b"remote.user" in LOOKALIKE_HEADERS
    assert b"x-authentik-meta.provider" in LOOKALIKE_HEADERS
    assert b"x-authentik-username" not in LOOKALIKE_HEADERS, "the exact name is the proxy's to manage"
    assert b"x-authentik-username." not in LOOKALIKE_HEADERS, "only a dash has look-alikes"
    assert all(b"_" in name or b"." in name for name in LOOKALIKE_HEADERS)
    canonical = {name.replace(b"_", b"-").replace(b".", b"-").decode() for name in LOOKALIKE_HEADERS}
    assert canonical == ALL_IDENTITY_HEADERS - {n for n in ALL_IDENTITY_HEADERS if "-" not in n}
    # Each name with k dashes has 3**k spellings, the exact one not counted.
    assert len(LOOKALIKE_HEADERS) == sum(3 ** n.count("-") - 1 for n in ALL_IDENTITY_HEADERS)


def test_the_proxy_manages_the_identity_headers_and_the_rewritten_cookie_and_authorization() -> None:
    assert managed_headers() == [*header_names(), "Cookie", "Authorization"]


# --- Authentik's entitlements, meta headers and ak_proxy headers ------------------------------------


def test_entitlements_are_pipe_joined_in_the_authentik_set_only() -> None:
    user = Identity(sub="s", username="u", entitlements=("read", "write", "a|b"))
    h = as_dict(identity_headers(user, "", ["authentik", "oauth2-proxy", "authelia"]))
    assert h[b"x-authentik-entitlements"] == b"read|write", "a|b would read as two entitlements"
    assert not [n for n in h if b"entitlement" in n and n != b"x-authentik-entitlements"]
    assert groups_left_out(user.entitlements, ["authentik"]) == ["a|b"]


def test_meta_headers_carry_the_deployments_values() -> None:
    meta = Meta(
        jwks="https://auth.test/application/o/wiki/jwks/",
        outpost="authgate",
        provider="Wiki provider",
        app="wiki",
        version="authgate/0.1.0",
    )
    h = as_dict(identity_headers(ALICE, "t", ["authentik"], meta))
    assert h[b"x-authentik-meta-jwks"] == b"https://auth.test/application/o/wiki/jwks/"
    assert h[b"x-authentik-meta-outpost"] == b"authgate"
    assert h[b"x-authentik-meta-provider"] == b"Wiki provider"
    assert h[b"x-authentik-meta-app"] == b"wiki"
    assert h[b"x-authentik-meta-version"] == b"authgate/0.1.0"
    assert not [n for n in identity_headers(ALICE, "t", ["oauth2-proxy", "authelia"], meta) if b"meta" in n[0]]
    # An empty value is not sent (the proxy drops a client's copy).
    assert b"x-authentik-meta-app" not in as_dict(identity_headers(ALICE, "t", ["authentik"], Meta(outpost="o")))


def test_the_idps_headers_follow_the_identity_headers_whatever_the_sets() -> None:
    upstream = (("Authorization", "Basic YTpi"), ("X-Wiki-User", "Zoë"), ("X-Empty", ""))
    for sets in (["authentik"], []):
        h = identity_headers(ALICE, "t", sets, upstream=upstream)
        assert h[-2:] == [(b"authorization", b"Basic YTpi"), (b"x-wiki-user", "Zoë".encode())]


# --- Pinned where mutation testing found the tests loose (docs/testing.md) ---
# Identity headers, pinned where mutation testing found them loose (docs/testing.md).
#
# The lists matter as much as the values: proxies are configured from ``header_names`` (the demo
# builds Traefik's ``authResponseHeaders`` from it, the recipes list the same names), and a proxy
# only replaces the headers it is told about. A header authgate emits but does not list would let
# a client's forged copy through to the app, so what is emitted and what is listed must agree.


# Every claim present, so every header of every set has a value to send.
EVERYONE = Identity(sub="s-1", username="u", email="u@corp.test", name="U", groups=("g1", "g2"), entitlements=("e1",))
META = Meta(jwks="https://idp.test/jwks/", outpost="o", provider="p", app="a", version="authgate/1")

# Authentik's outpost's names, casing and order.
AUTHENTIK = [
    "X-authentik-username",
    "X-authentik-groups",
    "X-authentik-entitlements",
    "X-authentik-email",
    "X-authentik-name",
    "X-authentik-uid",
    "X-authentik-jwt",
    "X-authentik-meta-jwks",
    "X-authentik-meta-outpost",
    "X-authentik-meta-provider",
    "X-authentik-meta-app",
    "X-authentik-meta-version",
]
OAUTH2_PROXY = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
]
AUTHELIA = ["Remote-User", "Remote-Groups", "Remote-Name", "Remote-Email"]


def test_each_set_lists_exactly_its_headers() -> None:
    assert header_names(["authentik"]) == AUTHENTIK
    assert header_names(["oauth2-proxy"]) == OAUTH2_PROXY
    assert header_names(["authelia"]) == AUTHELIA
    assert set(HEADER_SETS) == {"authentik", "oauth2-proxy", "authelia"}
    assert tuple(HEADER_SETS) == HEADER_SET_NAMES, "the names settings accept are the sets that exist"


def test_the_default_sets_are_authentik_and_oauth2_proxy() -> None:
    assert DEFAULT_HEADER_SETS == ("authentik", "oauth2-proxy")
    assert header_names() == AUTHENTIK + OAUTH2_PROXY
    assert managed_headers() == [*AUTHENTIK, *OAUTH2_PROXY, "Cookie", "Authorization"]


@pytest.mark.parametrize("header_set", ["authentik", "oauth2-proxy", "authelia"])
def test_what_a_set_emits_is_exactly_what_it_lists(header_set: str) -> None:
    emitted = [name for name, _ in identity_headers(EVERYONE, "a.jwt", [header_set], META)]
    assert emitted == [name.lower().encode() for name in header_names([header_set])]


def test_every_listed_name_is_an_identity_header_and_nothing_else_is() -> None:
    listed = {name.lower() for names in HEADER_SETS.values() for name in names}
    # x-auth-request-access-token: oauth2-proxy's, never emitted, still never taken from a client.
    assert listed | {"x-auth-request-access-token"} == ALL_IDENTITY_HEADERS


def test_spellings_are_every_mix_of_dash_underscore_and_dot() -> None:
    assert _spellings("a-b") == {"a-b", "a_b", "a.b"}
    assert _spellings("a-b-c") == {f"a{x}b{y}c" for x in "-_." for y in "-_."}
    assert _spellings("plain") == {"plain"}
    assert _spellings("a.b") == {"a.b"}, "a dot is no dash"
    assert _spellings("-") == {"-", "_", "."}
    assert len(_spellings("x-auth-request-preferred-username")) == 3**4


def test_the_real_names_are_never_lookalikes_and_every_other_spelling_is() -> None:
    real = {name.encode() for name in ALL_IDENTITY_HEADERS}
    assert not real & LOOKALIKE_HEADERS
    expected = {s.encode() for name in ALL_IDENTITY_HEADERS for s in _spellings(name)} - real
    assert expected == LOOKALIKE_HEADERS
    assert b"x-auth-request-access_token" in LOOKALIKE_HEADERS


def test_an_unknown_set_is_skipped_not_the_end_of_the_list() -> None:
    sent = [name for name, _ in identity_headers(EVERYONE, "t", ["nope", "authelia", "Authentik", "oauth2-proxy"])]
    assert sent == [n.lower().encode() for n in AUTHELIA + OAUTH2_PROXY]


def test_groups_use_each_sets_delimiter() -> None:
    sent = dict(identity_headers(EVERYONE, "t", ["authentik", "oauth2-proxy", "authelia"]))
    assert sent[b"x-authentik-groups"] == b"g1|g2"
    assert sent[b"x-auth-request-groups"] == b"g1,g2"
    assert sent[b"remote-groups"] == b"g1,g2"


def test_the_documented_value_limits() -> None:
    # docs/troubleshooting.md: values are cut at 8192 bytes, 65536 for X-authentik-jwt.
    assert MAX_VALUE_BYTES == 8192
    assert safe_value("a" * 8192) == b"a" * 8192
    assert safe_value("a" * 8193) == b"a" * 8192
    sent = dict(identity_headers(EVERYONE, "j" * 70_000, ["authentik"]))
    assert len(sent[b"x-authentik-jwt"]) == 65536


def test_every_control_character_becomes_a_space() -> None:
    for code in [*range(0x20), 0x7F]:
        assert safe_value(f"a{chr(code)}b") == b"a b", hex(code)
