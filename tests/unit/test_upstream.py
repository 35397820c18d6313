"""Authentik's ak_proxy claim: additionalHeaders and HTTP Basic credentials, checked (authgate.access.upstream).

Every name and value in the claim is hostile (some setups let users edit their own attributes):
the tables below are the attacks, each left out with a reason, never sent."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from authgate.access.identity_headers import ALL_IDENTITY_HEADERS
from authgate.access.upstream import (
    MAX_HEADERS,
    MAX_NAME_LENGTH,
    MAX_TOTAL_BYTES,
    MAX_VALUE_BYTES,
    BasicAuth,
    from_claims,
    refusal,
)

BASIC = BasicAuth("app_username", "app_password")


def claims(attributes: Any, **extra: Any) -> dict[str, Any]:
    return {"sub": "s", "email": "alice@corp.test", "ak_proxy": {"user_attributes": attributes}, **extra}


def extra(headers: Any) -> dict[str, Any]:
    return claims({"additionalHeaders": headers})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_no_claim_no_headers() -> None:
    for c in ({}, {"ak_proxy": None}, {"ak_proxy": "x"}, {"ak_proxy": {"user_attributes": []}}, extra(None)):
        got = from_claims(c, BASIC)
        assert got.headers == () and got.left_out == ()


def test_additional_headers_are_sent_in_order() -> None:
    got = from_claims(extra({"X-Wiki-User": "alice", "X-Scope-OrgID": "team-a|team-b", "X-Tenant": 42}))
    assert got.headers == (("X-Wiki-User", "alice"), ("X-Scope-OrgID", "team-a|team-b"), ("X-Tenant", "42"))
    assert got.left_out == ()


def test_an_empty_value_sends_nothing_and_is_no_refusal() -> None:
    got = from_claims(extra({"X-A": "", "X-B": "  "}))
    assert got.headers == () and got.left_out == ()


RESERVED_WHY = "a header authgate, the proxy or the app relies on"
MALFORMED_WHY = "not a plain header name (letters, digits and dashes, at most 64)"
RESERVED_NAMES = [
    # identity headers: a user must not be able to name themselves someone else
    "X-authentik-username",
    "x-authentik-groups",
    "X-AUTHENTIK-ENTITLEMENTS",
    "X-authentik-meta-app",
    "X-authentik-jwt",
    "X-Auth-Request-User",
    "X-Auth-Request-Access-Token",
    "Remote-User",
    # credentials and cookies (Authorization only through the basic-auth settings)
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "Set-Cookie",
    # routing, framing and hop-by-hop
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Upgrade",
    "TE",
    "Trailer",
    "Expect",
    "Content-Type",
    "Content-Encoding",
    "Location",
    # what the proxy or the app trusts for the client's address and the original request
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Original-URL",
    "X-Original-Method",
    "X-Real-IP",
    "Forwarded",
    "Via",
    "Sec-Fetch-Mode",
    "Proxy-Anything",
    "X-Authgate-Anything",
]
MALFORMED_NAMES = [
    "X-Authentik_Username",  # look-alikes: WSGI, PHP and CGI apps read "_" as "-"
    "X_Wiki_User",
    "X-Wiki User",
    "X-Wiki:User",
    "X-Wiki\r\nX-authentik-username",
    "X-Wiki\nUser",
    "X-Wiki\n",  # a final newline: what a regex's "$" lets through
    "X-Wiki\r\n",
    "X-Wiki\x00",
    "X-Wikié",
    "",
    "-X-Wiki",
    "X" * 65,
]


@pytest.mark.parametrize(
    ("name", "why"),
    [*((n, RESERVED_WHY) for n in RESERVED_NAMES), *((n, MALFORMED_WHY) for n in MALFORMED_NAMES)],
)
def test_a_reserved_or_malformed_name_is_left_out(name: str, why: str) -> None:
    got = from_claims(extra({name: "root", "X-Fine": "ok"}), BASIC)
    assert got.headers == (("X-Fine", "ok"),)
    assert got.left_out == ((name[:64], why),)
    assert refusal(name) == why


def test_the_documented_limits() -> None:
    assert (MAX_HEADERS, MAX_NAME_LENGTH, MAX_VALUE_BYTES, MAX_TOTAL_BYTES) == (16, 64, 4096, 8192)


def test_a_name_of_the_longest_length_is_fine() -> None:
    name = "X-" + "a" * (MAX_NAME_LENGTH - 2)
    assert from_claims(extra({name: "v"})).headers == ((name, "v"),)


def test_every_identity_header_is_refused() -> None:
    assert all(refusal(name) for name in ALL_IDENTITY_HEADERS)
    assert refusal("X-authentik-upn") is None, "a new name under X-authentik- is fine (Authentik users use them)"
    assert refusal("X-Forwarded") is None and refusal("X-Scope-OrgID") is None


CONTROL = "its value holds a control character (CR, LF ...)"
LONG = "its value is longer than 4096 bytes"
NOT_TEXT = "its value is not a string or a number"
REFUSED_VALUES = [
    ("a\r\nX-authentik-username: root", CONTROL),
    ("a\nb", CONTROL),
    ("a\rb", CONTROL),
    ("alice\r\n", CONTROL),  # at the end too: refused, not trimmed away
    ("\nalice", CONTROL),
    ("a\x00b", CONTROL),
    ("a\x7fb", CONTROL),
    ("a\x1bb", CONTROL),
    ("x" * (MAX_VALUE_BYTES + 1), LONG),
    ("é" * (MAX_VALUE_BYTES // 2 + 1), LONG),  # bytes, not characters
    (True, NOT_TEXT),
    (None, NOT_TEXT),
    (1.5, NOT_TEXT),
    (["a", "b"], NOT_TEXT),
    ({"a": "b"}, NOT_TEXT),
]


@pytest.mark.parametrize(("value", "why"), REFUSED_VALUES)
def test_a_hostile_value_is_left_out(value: Any, why: str) -> None:
    got = from_claims(extra({"X-Wiki-User": value}))
    assert got.headers == ()
    assert got.left_out == (("X-Wiki-User", why),)


def test_a_tab_and_non_ascii_are_kept_and_the_value_is_trimmed() -> None:
    got = from_claims(extra({"X-A": " a\tb\t ", "X-B": "\xa0Zoë 名前", "X-C": "x" * MAX_VALUE_BYTES, "X-D": "XmasX"}))
    assert got.headers == (("X-A", "a\tb"), ("X-B", "\xa0Zoë 名前"), ("X-C", "x" * MAX_VALUE_BYTES), ("X-D", "XmasX"))


def test_a_name_repeated_in_another_case_is_left_out() -> None:
    got = from_claims(extra({"X-Wiki-User": "alice", "x-wiki-user": "root"}))
    assert got.headers == (("X-Wiki-User", "alice"),)
    assert got.left_out == (("x-wiki-user", "repeated (names are case-insensitive)"),)


def test_the_count_is_bounded() -> None:
    many = {f"X-H{i}": "v" for i in range(MAX_HEADERS + 3)}
    got = from_claims(extra(many), BASIC)
    assert len(got.headers) == MAX_HEADERS
    assert got.left_out == tuple((f"X-H{i}", "more than 16 additional headers") for i in range(16, 19))
    # Basic credentials do not count against the additional headers.
    with_basic = from_claims(claims({"additionalHeaders": many, "app_password": "pw"}), BASIC)
    assert len(with_basic.headers) == MAX_HEADERS + 1


def test_headers_of_exactly_the_total_size_are_sent() -> None:
    value = "v" * (MAX_TOTAL_BYTES // 2 - 3)  # "X-A" + value: half the budget
    got = from_claims(extra({"X-A": value, "X-B": value, "X-C": "v"}))
    assert [n for n, _ in got.headers] == ["X-A", "X-B"]
    assert got.left_out == (("X-C", "the additional headers together are longer than 8192 bytes"),)


def test_the_total_size_is_bounded() -> None:
    big = "v" * (MAX_VALUE_BYTES - 10)
    got = from_claims(extra({"X-A": big, "X-B": big, "X-C": big, "X-D": "small"}))
    sent = sum(len(n) + len(v) for n, v in got.headers)
    assert sent <= MAX_TOTAL_BYTES
    assert [n for n, _ in got.headers] == ["X-A", "X-B", "X-D"], "a later small one still fits"
    assert got.left_out == (("X-C", "the additional headers together are longer than 8192 bytes"),)


# --- HTTP Basic credentials ---------------------------------------------------------------------


def test_basic_credentials_from_the_named_attributes() -> None:
    got = from_claims(claims({"app_username": "wiki-admin", "app_password": "pa:ss wörd"}), BASIC)
    assert got.headers == (("Authorization", basic("wiki-admin", "pa:ss wörd")),)


def test_basic_username_falls_back_to_the_email() -> None:
    for attributes in ({"app_password": "pw"}, {"app_password": "pw", "app_username": 7}):
        got = from_claims(claims(attributes), BASIC)
        assert got.headers == (("Authorization", basic("alice@corp.test", "pw")),)
    only_password = BasicAuth(password_attribute="app_password")
    got = from_claims(claims({"app_password": "pw", "app_username": "ignored", "": "nameless"}), only_password)
    assert got.headers == (("Authorization", basic("alice@corp.test", "pw")),)


@pytest.mark.parametrize(
    "attributes",
    [{}, {"app_username": "u"}, {"app_username": "u", "app_password": ""}, {"app_password": 123}],
)
def test_no_password_no_header(attributes: dict[str, Any]) -> None:
    assert from_claims(claims(attributes), BASIC).headers == ()


def test_basic_credentials_only_when_the_settings_name_the_attribute() -> None:
    attributes = {"app_username": "u", "app_password": "pw"}
    assert from_claims(claims(attributes)).headers == ()
    assert from_claims(claims(attributes), BasicAuth(username_attribute="app_username")).headers == ()


def test_basic_credentials_come_first_and_additional_authorization_never() -> None:
    attributes = {"app_password": "pw", "additionalHeaders": {"Authorization": "Bearer forged", "X-A": "a"}}
    got = from_claims(claims(attributes), BASIC)
    assert got.headers == (("Authorization", basic("alice@corp.test", "pw")), ("X-A", "a"))
    assert got.left_out == (("Authorization", RESERVED_WHY),)


def test_oversized_basic_credentials_are_left_out() -> None:
    got = from_claims(claims({"app_password": "p" * MAX_VALUE_BYTES}), BASIC)
    assert got.headers == ()
    assert got.left_out == (("Authorization", "the basic credentials are longer than 4096 bytes"),)
    # The longest that fits: "Basic " and 4088 characters of base64 (3066 bytes of user:password).
    fits = from_claims(claims({"app_password": "p" * (3066 - len("alice@corp.test:"))}), BASIC)
    assert len(fits.headers[0][1]) == 4094 and fits.left_out == ()


def test_a_username_without_email_or_attribute_sends_nothing() -> None:
    c = claims({"app_password": "pw"})
    del c["email"]
    assert from_claims(c, BASIC).headers == ()
