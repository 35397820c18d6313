"""Identity headers, pinned where mutation testing found them loose (docs/testing.md).

The lists matter as much as the values: proxies are configured from ``header_names`` (the demo
builds Traefik's ``authResponseHeaders`` from it, the recipes list the same names), and a proxy
only replaces the headers it is told about. A header authgate emits but does not list would let
a client's forged copy through to the app, so what is emitted and what is listed must agree.
"""

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
    header_names,
    identity_headers,
    managed_headers,
    safe_value,
)
from authgate.config.settings import HEADER_SET_NAMES
from authgate.model import Identity

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


def test_spellings_are_every_mix_of_dash_and_underscore() -> None:
    assert _spellings("a-b-c") == {"a-b-c", "a_b-c", "a-b_c", "a_b_c"}
    assert _spellings("plain") == {"plain"}
    assert _spellings("-") == {"-", "_"}
    assert len(_spellings("x-auth-request-preferred-username")) == 2**4


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
