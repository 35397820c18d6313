"""Forwarded-header parsing, pinned where mutation testing found it loose (docs/testing.md).

Three kinds of checks: which check refused a request (so a test expecting a refusal for one
reason cannot pass because of another), the boundaries of host and port, and the memo of parsed
requests: it may answer a repeat only with what parsing that exact request would give.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authgate.access import forwarded
from authgate.access.forwarded import (
    MAX_URL_LENGTH,
    TrustedProxies,
    clean_host,
    from_forwarded,
    from_original,
    public_origin,
)
from authgate.access.request import OriginalRequest
from authgate.errors import InvalidForwardedHeaders
from authgate.lru import ByteLRU


@pytest.fixture(autouse=True)
def empty_memo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with nothing remembered (other tests parse the same URLs)."""
    monkeypatch.setattr(forwarded, "PARSED", ByteLRU(4 * 1024 * 1024, max_key=MAX_URL_LENGTH + 512))
    clean_host.cache_clear()
    yield
    clean_host.cache_clear()


def refusal(parse: object, headers: dict[str, str]) -> str:
    with pytest.raises(InvalidForwardedHeaders) as caught:
        parse(headers, default_scheme="http")  # type: ignore[operator]
    return str(caught.value)


# --- which check refused ------------------------------------------------------------------------

MALFORMED_PROTO = "malformed X-Forwarded-Proto"
BAD_PATH = "malformed or over-long path"
BAD_PATH_CHARS = "path contains control, space or non-ASCII characters"
TWO_HOSTS = "the request names two hosts (absolute-form request line and Host header)"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-original-url": "https://app.test/" + "a" * MAX_URL_LENGTH}, "X-Original-URL is over-long"),
        ({"x-original-url": "ftp://app.test/"}, "X-Original-URL is not an absolute http(s) URL"),
        ({"x-original-url": "/relative"}, "X-Original-URL is not an absolute http(s) URL"),
        ({"x-original-url": "https:///x"}, "X-Original-URL is not an absolute http(s) URL"),
        ({"x-original-url": "https://app.test/?q=a b"}, "query contains control, space or non-ASCII characters"),
        ({"x-original-url": "https://app.test/a b"}, BAD_PATH_CHARS),
        ({"x-original-url": "https://app.test:99999/"}, "malformed host"),
        ({"x-original-url": "https://app.test/", "x-original-method": "G1"}, "malformed method"),
        ({"x-original-url": "http://open.test/", "x-original-host": "app.test"}, TWO_HOSTS),
        ({"host": "app.test"}, "neither X-Original-URL nor X-Original-URI with Host was sent"),
        ({"x-original-uri": "/x"}, "neither X-Original-URL nor X-Original-URI with Host was sent"),
        ({"x-original-uri": "x", "host": "app.test"}, BAD_PATH),
        ({"x-original-uri": "/" + "a" * MAX_URL_LENGTH, "host": "app.test"}, BAD_PATH),
        ({"x-original-uri": "/a\x00", "host": "app.test"}, BAD_PATH_CHARS),
        ({"x-original-uri": "/x", "host": "app.test", "x-forwarded-proto": "ftp"}, MALFORMED_PROTO),
        ({"x-original-uri": "/x", "host": "open.test", "x-original-host": "app.test"}, TWO_HOSTS),
    ],
)
def test_each_nginx_refusal_names_its_check(headers: dict[str, str], reason: str) -> None:
    assert refusal(from_original, headers) == reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "X-Forwarded-Host was not sent"),
        ({"x-forwarded-host": ""}, "X-Forwarded-Host was not sent"),
        ({"x-forwarded-host": "app.test", "x-forwarded-proto": "wss2"}, MALFORMED_PROTO),
        ({"x-forwarded-host": "app.test", "x-forwarded-uri": "relative"}, BAD_PATH),
        ({"x-forwarded-host": "app.test", "x-forwarded-uri": "/a b"}, BAD_PATH_CHARS),
        ({"x-forwarded-host": "app.test/x"}, "malformed host"),
    ],
)
def test_each_traefik_and_caddy_refusal_names_its_check(headers: dict[str, str], reason: str) -> None:
    assert refusal(from_forwarded, headers) == reason


def test_no_host_at_all_names_its_check() -> None:
    with pytest.raises(InvalidForwardedHeaders) as caught:
        public_origin({}, scheme="http", trusted=False)
    assert str(caught.value) == "no Host header"


# --- hosts, ports, schemes --------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["app.test:0", "app.test:00", "[::1]:0", "app.test:65536"])
def test_port_zero_and_past_65535_are_refused(raw: str) -> None:
    with pytest.raises(InvalidForwardedHeaders, match="malformed host"):
        clean_host(raw)


@pytest.mark.parametrize("raw", ["app.test:1", "app.test:65535", "app.test:08080"])
def test_ports_1_to_65535_are_accepted(raw: str) -> None:
    assert clean_host(raw) == raw


def test_a_host_name_up_to_the_length_limit_is_accepted() -> None:
    label = "a" * 60
    host = ".".join([label] * 4) + ".test"  # 249 characters
    assert clean_host(host) == host
    assert clean_host(f"{host}:65535") == f"{host}:65535"
    with pytest.raises(InvalidForwardedHeaders):
        clean_host("a" * 254)


@pytest.mark.parametrize(
    "raw", ["app.test-", "-app.test", "app.test:000443", "[::1:zz]", "[1.2.3.4.x]", "app.test:123456"]
)
def test_malformed_labels_literals_and_ports_are_refused(raw: str) -> None:
    with pytest.raises(InvalidForwardedHeaders, match="malformed host"):
        clean_host(raw)


def test_an_address_literal_is_bounded_in_length_too() -> None:
    literal = "[" + "0:" * 120 + "1]"  # matches the pattern of an IPv6 literal, 243 characters
    assert clean_host(literal) == literal
    with pytest.raises(InvalidForwardedHeaders, match="malformed host"):
        clean_host("[" + "0:" * 140 + "1]")


def test_the_documented_url_length_limit() -> None:
    # docs/security.md: URLs of at most 8192 characters.
    base = "https://app.test/"
    at_limit = base + "a" * (8192 - len(base))
    assert from_original({"x-original-url": at_limit}, default_scheme="http").path == at_limit[len(base) - 1 :]
    assert refusal(from_original, {"x-original-url": at_limit + "a"}) == "X-Original-URL is over-long"
    uri = "/" + "a" * 8191
    assert from_forwarded({"x-forwarded-host": "app.test", "x-forwarded-uri": uri}, default_scheme="http").path == uri
    assert refusal(from_forwarded, {"x-forwarded-host": "app.test", "x-forwarded-uri": uri + "a"}) == BAD_PATH


@pytest.mark.parametrize(("proto", "scheme"), [("https, http, http", "https"), ("http,https", "http")])
def test_the_first_of_a_proto_list_counts(proto: str, scheme: str) -> None:
    nginx = {"x-original-uri": "/", "host": "app.test", "x-forwarded-proto": proto}
    assert from_original(nginx, default_scheme="https").scheme == scheme
    traefik = {"x-forwarded-host": "app.test", "x-forwarded-proto": proto}
    assert from_forwarded(traefik, default_scheme="https").scheme == scheme


@pytest.mark.parametrize(
    ("proto", "default", "scheme"),
    [("http", "https", "http"), ("https,http", "http", "https"), ("HTTPS , http", "http", "https")],
)
def test_public_origin_takes_the_first_forwarded_proto(proto: str, default: str, scheme: str) -> None:
    headers = {"host": "auth.test", "x-forwarded-proto": proto}
    assert public_origin(headers, scheme=default, trusted=True) == (scheme, "auth.test")


def test_an_absent_method_is_unknown_not_get() -> None:
    assert from_forwarded({"x-forwarded-host": "app.test"}, default_scheme="http").method == ""
    assert from_original({"x-original-url": "http://app.test/"}, default_scheme="http").method == ""


def test_the_method_is_upper_cased_and_bounded() -> None:
    got = from_forwarded({"x-forwarded-host": "app.test", "x-forwarded-method": "propfind"}, default_scheme="http")
    assert got.method == "PROPFIND"
    ok = {"x-forwarded-host": "app.test", "x-forwarded-method": "A" * 16}
    assert from_forwarded(ok, default_scheme="http").method == "A" * 16
    assert refusal(from_forwarded, {**ok, "x-forwarded-method": "A" * 17}) == "malformed method"


def test_the_routed_host_is_checked_with_x_original_uri_too() -> None:
    headers = {"x-original-uri": "/x", "host": "App.Test:8080", "x-original-host": "app.test"}
    assert from_original(headers, default_scheme="http").host == "app.test:8080"
    assert refusal(from_original, {**headers, "x-original-host": "other.test"}) == TWO_HOSTS


def test_a_raw_hash_stays_in_the_forwarded_path() -> None:
    got = from_original({"x-original-url": "https://app.test/public/#/../admin?x"}, default_scheme="http")
    assert (got.path, got.query) == ("/public/#/../admin", "x")


# --- the memo of parsed requests --------------------------------------------------------------


def test_a_repeated_request_is_answered_from_the_memo() -> None:
    for parse, headers in [
        (from_original, {"x-original-url": "https://app.test/a?b", "x-original-method": "GET"}),
        (from_original, {"x-original-uri": "/a?b", "host": "app.test", "x-original-method": "GET"}),
        (from_forwarded, {"x-forwarded-host": "app.test", "x-forwarded-uri": "/a?b", "x-forwarded-method": "GET"}),
    ]:
        first = parse(headers, default_scheme="http")
        assert parse(dict(headers), default_scheme="http") is first


# Requests that differ in one field only, in both orders: the memo must never answer one with the
# other's result. "XXXX" is a valid method and host name as well as a likely placeholder.
PAIRS_OF_METHODS = [("GET", None), (None, "GET"), ("GET", "POST"), ("PROPFIND", None), ("XXXX", None), (None, "XXXX")]


@pytest.mark.parametrize(("first", "second"), PAIRS_OF_METHODS)
def test_the_memo_keeps_requests_with_different_methods_apart(first: str | None, second: str | None) -> None:
    cases = [
        (from_original, {"x-original-url": "https://app.test/x"}, "x-original-method"),
        (from_original, {"x-original-uri": "/x", "host": "app.test"}, "x-original-method"),
        (from_forwarded, {"x-forwarded-host": "app.test", "x-forwarded-uri": "/x"}, "x-forwarded-method"),
    ]
    for parse, base, name in cases:
        for method in (first, second):
            headers = {**base, name: method} if method else dict(base)
            assert parse(headers, default_scheme="http").method == (method or ""), (parse, headers)


@pytest.mark.parametrize(
    "base", [{"x-original-url": "https://app.test/x"}, {"x-original-uri": "/x", "host": "app.test"}]
)
def test_the_memo_keeps_requests_with_different_routed_hosts_apart(base: dict[str, str]) -> None:
    assert from_original(base, default_scheme="http").host == "app.test"
    for routed in ("open.test", "XXXX"):
        assert refusal(from_original, {**base, "x-original-host": routed}) == TWO_HOSTS
    assert from_original({**base, "x-original-host": "app.test"}, default_scheme="http").host == "app.test"
    assert refusal(from_original, {**base, "x-original-host": "open.test"}) == TWO_HOSTS


def test_trusted_proxies_remember_a_bounded_number_of_peers() -> None:
    trusted = TrustedProxies(["10.0.0.0/8"])
    for i in range(3000):
        trusted.contains(f"10.{i // 256}.{i % 256}.1")
    assert trusted.contains.cache_info().currsize < 3000
    assert trusted.contains("10.0.0.1") is True
    assert trusted.contains("11.0.0.1") is False


def test_parsing_is_what_the_types_say() -> None:
    got = from_forwarded({"x-forwarded-host": "app.test", "x-forwarded-uri": "/p?q"}, default_scheme="https")
    assert got == OriginalRequest("https", "app.test", "/p", "q", "")
