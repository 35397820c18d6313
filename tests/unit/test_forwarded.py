"""Parsing of X-Original-* (nginx) and X-Forwarded-* (Traefik, Caddy) headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authgate.access import forwarded
from authgate.access.forwarded import (
    MAX_URL_LENGTH,
    TrustedProxies,
    browser_origin,
    clean_host,
    from_forwarded,
    from_original,
    public_origin,
)
from authgate.access.request import OriginalRequest
from authgate.errors import BadRequest, InvalidForwardedHeaders
from authgate.lru import ByteLRU


def bad_original(headers: dict[str, str], scheme: str = "http") -> None:
    with pytest.raises(InvalidForwardedHeaders):
        from_original(headers, default_scheme=scheme)


def bad_forwarded(headers: dict[str, str], scheme: str = "http") -> None:
    with pytest.raises(InvalidForwardedHeaders):
        from_forwarded(headers, default_scheme=scheme)


def latin1(raw: bytes) -> str:
    """A header value as an ASGI server hands it over: bytes decoded as latin-1."""
    return raw.decode("latin-1")


# --- clean_host ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("app.test", "app.test"),
        ("APP.Test", "app.test"),
        ("  app.test  ", "app.test"),
        ("app.test:8443", "app.test:8443"),
        ("a-b_c.app.test", "a-b_c.app.test"),
        ("localhost", "localhost"),
        ("127.0.0.1:80", "127.0.0.1:80"),
        ("[::1]", "[::1]"),
        ("[::1]:8080", "[::1]:8080"),
        ("[FE80::1]:443", "[fe80::1]:443"),
        ("[::ffff:10.0.0.1]", "[::ffff:10.0.0.1]"),
        ("a", "a"),
    ],
)
def test_clean_host_accepts_and_lowercases(raw: str, clean: str) -> None:
    assert clean_host(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "app.test:",
        "app.test:abc",
        "app.test:123456",
        "app.test:-1",
        "app.test:+80",
        "app.test.",
        ".app.test",
        "-app.test",
        "app test",
        "app.test/evil",
        "app.test\\evil",
        "user@app.test",
        "app.test?x",
        "app.test#x",
        "app\r\n.test",
        "app.test\r\nX-Injected: 1",
        "app\x00.test",
        "ápp.test",
        latin1("caf\xc3\xa9.test".encode("latin-1")),
        latin1(b"\xff\xfe.test"),
        "::1",
        "[::1",
        "[::1]x",
        "[evil.test]",
        "a" * 300,
        "a" * 250 + ".test",
        "app.test,evil.test",
    ],
)
def test_clean_host_rejects(raw: str) -> None:
    with pytest.raises(InvalidForwardedHeaders):
        clean_host(raw)


@pytest.mark.parametrize("raw", ["app.test:99999", "app.test:65536"])
def test_clean_host_rejects_out_of_range_port(raw: str) -> None:
    with pytest.raises(InvalidForwardedHeaders):
        clean_host(raw)


# --- from_original (nginx auth_request) -----------------------------------------------------


def test_original_url_absolute() -> None:
    got = from_original(
        {"x-original-url": "https://App.Test:8443/a/b?x=1&y=2", "x-original-method": "post"},
        default_scheme="http",
    )
    assert got == OriginalRequest("https", "app.test:8443", "/a/b", "x=1&y=2", "POST")
    assert got.hostname == "app.test"
    assert got.origin == "https://app.test:8443"
    assert got.url == "https://app.test:8443/a/b?x=1&y=2"


def test_original_url_without_path_or_method() -> None:
    got = from_original({"x-original-url": "http://app.test"}, default_scheme="https")
    assert got == OriginalRequest("http", "app.test", "/", "", "")  # the method is unknown, not GET
    assert got.url == "http://app.test/"


def test_original_url_takes_precedence_over_uri_and_host() -> None:
    got = from_original(
        {"x-original-url": "https://app.test/real", "x-original-uri": "/other", "host": "other.test"},
        default_scheme="http",
    )
    assert (got.host, got.path) == ("app.test", "/real")


def test_a_raw_hash_is_kept_not_read_as_a_fragment() -> None:
    # A proxy forwards the request target, which has no fragment: a "#" there was sent raw.
    got = from_original({"x-original-url": "https://app.test/p?q=1#frag"}, default_scheme="http")
    assert got.url == "https://app.test/p?q=1#frag"
    got = from_original({"x-original-url": "https://app.test/public/#/../admin"}, default_scheme="http")
    assert got.path == "/public/#/../admin"


def test_original_url_ipv6_host() -> None:
    got = from_original({"x-original-url": "http://[::1]:8080/x"}, default_scheme="http")
    assert got.host == "[::1]:8080"
    assert got.hostname == "[::1]"
    assert got.url == "http://[::1]:8080/x"


@pytest.mark.parametrize(
    "url",
    [
        "/relative",
        "app.test/x",
        "//app.test/x",
        "ftp://app.test/",
        "javascript:alert(1)",
        "https://",
        "https:///x",
        "https://user:pw@app.test/",
        "https://app.test@evil.test/",
        "https://app.test:abc/",
        "https://app.test:/",
        "https://[::1/",
        "https://app.test/caf\u00e9",
        "https://app.test/a b",
        "https://app.test/a\x00b",
        "https://app.test/?q=caf\u00e9",
        "https://app.test/?q=a b",
        "https://app.test\\evil.test/",
        "https://evil.test／x/",
    ],
)
def test_original_url_malformed(url: str) -> None:
    bad_original({"x-original-url": url})


def test_original_url_invalid_utf8_bytes_are_refused() -> None:
    # nginx passes raw bytes; ASGI hands them over latin-1 decoded. \xc3\x28 is invalid UTF-8.
    bad_original({"x-original-url": latin1(b"https://app.test/\xc3\x28")})
    bad_original({"x-original-url": latin1(b"https://app.test/?q=\xff")})
    bad_original({"x-original-url": latin1(b"https://\xe4pp.test/")})


def test_original_url_length_limit() -> None:
    base = "https://app.test/"
    at_limit = base + "a" * (MAX_URL_LENGTH - len(base))
    assert from_original({"x-original-url": at_limit}, default_scheme="http").path.startswith("/aaa")
    bad_original({"x-original-url": at_limit + "a"})
    bad_original({"x-original-url": base + "a" * 1_000_000})


@pytest.mark.parametrize(
    "url",
    [
        "https://app.test/a\r\nSet-Cookie: x=y",
        "https://app.test/a?b=1\r\nX: y",
        "https://app.test/a\nb",
        "https://app.test/\tb",
    ],
)
def test_original_url_crlf_never_survives(url: str) -> None:
    # Either refused, or (urlsplit drops tab/CR/LF) the result carries none of them.
    try:
        got = from_original({"x-original-url": url}, default_scheme="http")
    except InvalidForwardedHeaders:
        return
    for ch in "\r\n\t":
        assert ch not in got.url
        assert ch not in got.host


def test_original_uri_with_host_fallback() -> None:
    got = from_original(
        {"x-original-uri": "/a/b?x=1", "host": "App.Test:8080", "x-original-method": "DELETE"},
        default_scheme="https",
    )
    assert got == OriginalRequest("https", "app.test:8080", "/a/b", "x=1", "DELETE")


def test_original_uri_fallback_takes_the_host_from_host_never_from_x_forwarded_host() -> None:
    # nginx's auth_request passes every client header on: X-Forwarded-Host is the client's.
    got = from_original(
        {
            "x-original-uri": "/x",
            "host": "app.test",
            "x-forwarded-host": "other.test, proxy.test",
            "x-forwarded-proto": "HTTPS",
        },
        default_scheme="http",
    )
    assert (got.scheme, got.host, got.path) == ("https", "app.test", "/x")


def test_original_uri_fallback_takes_first_forwarded_proto() -> None:
    got = from_original(
        {"x-original-uri": "/x", "host": "app.test", "x-forwarded-proto": "https, http"}, default_scheme="http"
    )
    assert got.scheme == "https"


def test_original_uri_fallback_default_scheme() -> None:
    got = from_original({"x-original-uri": "/", "host": "app.test"}, default_scheme="http")
    assert got.scheme == "http"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"host": "app.test"},
        {"x-original-uri": "/x"},
        {"x-original-url": "", "host": "app.test"},
        {"x-original-uri": "", "host": "app.test"},
        {"x-original-uri": "/x", "host": ""},
        {"x-original-uri": "x", "host": "app.test"},
        {"x-original-uri": "//evil.test/x", "host": "app.test", "x-forwarded-proto": "gopher"},
        {"x-original-uri": "/x", "host": "app.test", "x-forwarded-proto": "javascript"},
        {"x-original-uri": "/x", "host": "app.test:99x"},
        {"x-original-uri": "/x", "host": "[::1"},
        {"x-original-uri": "/x\r\nX-Evil: 1", "host": "app.test"},
        {"x-original-uri": "/x", "host": "app.test\r\nX-Evil: 1"},
        {"x-original-uri": "/caf\u00e9", "host": "app.test"},
        {"x-original-uri": "/" + "a" * MAX_URL_LENGTH, "host": "app.test"},
        {"x-original-uri": "/x", "host": "app.test", "x-original-method": "G E T"},
        {"x-original-uri": "/x", "host": "app.test", "x-original-method": "GET\r\nX: 1"},
        {"x-original-uri": "/x", "host": "app.test", "x-original-method": "A" * 17},
        {"x-original-uri": "/x", "host": "app.test", "x-original-method": "G1"},
    ],
)
def test_original_missing_or_malformed(headers: dict[str, str]) -> None:
    bad_original(headers)


def test_original_invalid_utf8_in_uri_and_host() -> None:
    bad_original({"x-original-uri": latin1(b"/\xc3\x28"), "host": "app.test"})
    bad_original({"x-original-uri": "/x", "host": latin1(b"\xc3\xa9.test")})


def test_method_whitespace_is_trimmed_and_uppercased() -> None:
    got = from_original({"x-original-url": "https://app.test/", "x-original-method": " head "}, default_scheme="http")
    assert got.method == "HEAD"


def test_invalid_forwarded_headers_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        from_original({}, default_scheme="http")


# --- from_forwarded (Traefik / Caddy) -------------------------------------------------------


def test_forwarded_full() -> None:
    got = from_forwarded(
        {
            "x-forwarded-proto": "https",
            "x-forwarded-host": "App.Test",
            "x-forwarded-uri": "/dash/?a=1&b=%2F",
            "x-forwarded-method": "PUT",
        },
        default_scheme="http",
    )
    assert got == OriginalRequest("https", "app.test", "/dash/", "a=1&b=%2F", "PUT")


def test_forwarded_defaults() -> None:
    got = from_forwarded({"x-forwarded-host": "app.test"}, default_scheme="https")
    assert got == OriginalRequest("https", "app.test", "/", "", "")


def test_forwarded_lists_take_the_first_entry() -> None:
    got = from_forwarded(
        {"x-forwarded-host": "app.test, proxy.test", "x-forwarded-proto": "https, http"},
        default_scheme="http",
    )
    assert (got.scheme, got.host) == ("https", "app.test")


def test_forwarded_ipv6_host() -> None:
    got = from_forwarded({"x-forwarded-host": "[2001:DB8::1]:8443", "x-forwarded-uri": "/"}, default_scheme="https")
    assert got.host == "[2001:db8::1]:8443"
    assert got.hostname == "[2001:db8::1]"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-forwarded-host": ""},
        {"host": "app.test", "x-forwarded-uri": "/"},
        {"x-forwarded-host": "app.test", "x-forwarded-proto": "ftp"},
        {"x-forwarded-host": "app.test", "x-forwarded-proto": "wss2"},
        {"x-forwarded-host": "app.test", "x-forwarded-proto": "websocket"},
        {"x-forwarded-host": "app.test:0x50"},
        {"x-forwarded-host": "app.test:"},
        {"x-forwarded-host": "app.test/x"},
        {"x-forwarded-host": "evil.test@app.test"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "relative"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "https://evil.test/"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/a\r\nX-Evil: 1"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/a\x00"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/a b"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/\u00e9"},
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/" + "a" * MAX_URL_LENGTH},
        {"x-forwarded-host": "app.test", "x-forwarded-method": "get me"},
        {"x-forwarded-host": "app.test\r\nX-Evil: 1"},
        {"x-forwarded-host": "a" * 10_000},
    ],
)
def test_forwarded_missing_or_malformed(headers: dict[str, str]) -> None:
    bad_forwarded(headers)


def test_forwarded_invalid_utf8() -> None:
    bad_forwarded({"x-forwarded-host": "app.test", "x-forwarded-uri": latin1(b"/\xed\xa0\x80")})
    bad_forwarded({"x-forwarded-host": latin1(b"\xe4pp.test")})


def test_forwarded_huge_uri_at_the_limit_is_accepted() -> None:
    uri = "/" + "a" * (MAX_URL_LENGTH - 1)
    got = from_forwarded({"x-forwarded-host": "app.test", "x-forwarded-uri": uri}, default_scheme="http")
    assert got.path == uri


def test_forwarded_query_is_kept_apart_from_path() -> None:
    got = from_forwarded(
        {"x-forwarded-host": "app.test", "x-forwarded-uri": "/private?next=/public/x?y"}, default_scheme="http"
    )
    assert got.path == "/private"
    assert got.query == "next=/public/x?y"


# --- public_origin ---------------------------------------------------------------------------


def test_public_origin_trusted_uses_forwarded_headers() -> None:
    headers = {"host": "authgate:9000", "x-forwarded-host": "Auth.Test, other.test", "x-forwarded-proto": "HTTPS"}
    assert public_origin(headers, scheme="http", trusted=True) == ("https", "auth.test")


def test_public_origin_untrusted_ignores_forwarded_headers() -> None:
    headers = {"host": "Auth.Test:8443", "x-forwarded-host": "evil.test", "x-forwarded-proto": "https"}
    assert public_origin(headers, scheme="http", trusted=False) == ("http", "auth.test:8443")


def test_public_origin_trusted_with_only_proto() -> None:
    headers = {"host": "auth.test", "x-forwarded-proto": "https"}
    assert public_origin(headers, scheme="http", trusted=True) == ("https", "auth.test")


def test_public_origin_trusted_ignores_unknown_proto() -> None:
    headers = {"host": "auth.test", "x-forwarded-proto": "javascript"}
    assert public_origin(headers, scheme="https", trusted=True) == ("https", "auth.test")


@pytest.mark.parametrize(
    ("headers", "trusted"),
    [
        ({}, False),
        ({}, True),
        ({"host": ""}, False),
        ({"x-forwarded-host": "auth.test"}, False),
        ({"host": "auth.test\r\nX: 1"}, False),
        ({"host": "auth.test", "x-forwarded-host": "evil.test/x"}, True),
        ({"host": "auth.test", "x-forwarded-host": latin1(b"\xc3\xa9.test")}, True),
    ],
)
def test_public_origin_bad(headers: dict[str, str], trusted: bool) -> None:
    with pytest.raises(InvalidForwardedHeaders):
        public_origin(headers, scheme="http", trusted=trusted)


# --- TrustedProxies ---------------------------------------------------------------------------

DEFAULT = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]


@pytest.mark.parametrize(
    "peer",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.10",
        "::1",
        "fd00::1",
        "::ffff:10.1.2.3",
        "::ffff:127.0.0.1",
        "::FFFF:192.168.0.1",
    ],
)
def test_trusted_peers(peer: str) -> None:
    assert TrustedProxies(DEFAULT).contains(peer) is True


@pytest.mark.parametrize(
    "peer",
    [
        None,
        "",
        "8.8.8.8",
        "172.32.0.1",
        "11.0.0.1",
        "2001:db8::1",
        "::ffff:8.8.8.8",
        "::ffff:172.32.0.1",
        "fe80::1",
        "not-an-ip",
        "10.0.0.1:1234",
        "10.0.0.1 ",
        "unix:/run/authgate.sock",
        "10.0.0.256",
    ],
)
def test_untrusted_peers(peer: str | None) -> None:
    assert TrustedProxies(DEFAULT).contains(peer) is False


def test_no_cidrs_trusts_nobody() -> None:
    trusted = TrustedProxies([])
    assert trusted.contains("127.0.0.1") is False
    assert trusted.contains("::1") is False


def test_single_addresses_and_non_strict_cidrs() -> None:
    trusted = TrustedProxies(["203.0.113.7", "198.51.100.9/24", "2001:db8::/32"])
    assert trusted.contains("203.0.113.7")
    assert not trusted.contains("203.0.113.8")
    assert trusted.contains("198.51.100.200")  # host bits ignored
    assert trusted.contains("2001:db8:1::5")
    assert trusted.contains("::ffff:203.0.113.7")


def test_invalid_cidr_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        TrustedProxies(["not-a-cidr"])


def test_contains_answers_repeatedly_the_same() -> None:
    trusted = TrustedProxies(["10.0.0.0/8"])
    assert [trusted.contains("10.0.0.1") for _ in range(3)] == [True] * 3
    assert [trusted.contains("8.8.8.8") for _ in range(3)] == [False] * 3


# --- The routed host wins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "routed", "ok"),
    [
        ("http://app.test:8080/x", "app.test", True),  # $host has no port; the URL keeps the client's
        ("http://APP.test/x", "app.test", True),
        ("http://open.test/x", "app.test", False),  # GET http://app.test/x with Host: open.test
        ("http://app.test.evil.test/x", "app.test", False),
        ("http://[::1]:8080/x", "[::1]", True),
    ],
)
def test_x_original_host_must_name_the_host_of_x_original_url(url: str, routed: str, ok: bool) -> None:
    headers = {"x-original-url": url, "x-original-host": routed}
    if ok:
        assert from_original(headers, default_scheme="http").hostname == routed.lower()
    else:
        with pytest.raises(InvalidForwardedHeaders, match="two hosts"):
            from_original(headers, default_scheme="http")


def test_without_x_original_host_an_older_snippet_still_works() -> None:
    assert from_original({"x-original-url": "http://app.test/x"}, default_scheme="http").host == "app.test"


def test_an_empty_x_original_host_is_refused_even_after_the_url_was_seen_without_one() -> None:
    url = "http://order-matters.test/x"
    assert from_original({"x-original-url": url}, default_scheme="http").host == "order-matters.test"
    with pytest.raises(InvalidForwardedHeaders):
        from_original({"x-original-url": url, "x-original-host": ""}, default_scheme="http")


@pytest.mark.parametrize(
    ("proto", "scheme"),
    [("http", "http"), ("https", "https"), ("ws", "http"), ("wss", "https"), ("WSS", "https"), ("ws, https", "http")],
)
def test_a_websocket_handshake_proto_stands_for_its_pages_scheme(proto: str, scheme: str) -> None:
    """Traefik sends X-Forwarded-Proto ws / wss with a WebSocket handshake's check."""
    got = from_forwarded({"x-forwarded-host": "app.test", "x-forwarded-proto": proto}, default_scheme="https")
    assert got.scheme == scheme
    assert got.origin == f"{scheme}://app.test"
    assert public_origin({"host": "a.test", "x-forwarded-proto": proto}, scheme="x", trusted=True) == (scheme, "a.test")


# --- browser_origin: the origin of /start, /sign_out, /userinfo -------------------------------


@pytest.mark.parametrize(
    ("headers", "trusted", "origin"),
    [
        # nginx's recipe: X-Original-URL (a port and https kept), the connection's own Host ignored.
        (
            {"host": "gw:9000", "x-original-url": "https://app.test:8443/outpost.goauthentik.io/start"},
            True,
            ("https", "app.test:8443"),
        ),
        # Traefik and Caddy: X-Forwarded-Host and -Proto.
        (
            {"host": "gw:9000", "x-forwarded-host": "app.test", "x-forwarded-proto": "https"},
            True,
            ("https", "app.test"),
        ),
        # Both naming one host (a load balancer in front of nginx; a client's copy of the same URL
        # through Traefik): the X-Forwarded-* origin, its scheme defaulting to X-Original-URL's.
        ({"x-original-url": "https://app.test/x", "x-forwarded-host": "app.test:444"}, True, ("https", "app.test:444")),
        (
            {"x-original-url": "https://app.test/x", "x-forwarded-host": "app.test", "x-forwarded-proto": "http"},
            True,
            ("http", "app.test"),
        ),
        # An untrusted peer: its Host and the connection's scheme, nothing forwarded.
        (
            {"host": "app.test", "x-original-url": "https://evil.test/", "x-forwarded-host": "evil.test"},
            False,
            ("http", "app.test"),
        ),
        ({"host": "app.test", "x-original-url": ""}, True, ("http", "app.test")),
    ],
)
def test_the_browser_routes_origin_comes_from_what_the_proxy_sets(
    headers: dict[str, str], trusted: bool, origin: tuple[str, str]
) -> None:
    assert browser_origin(headers, scheme="http", trusted=trusted) == origin


@pytest.mark.parametrize(
    "headers",
    [
        # Traefik or Caddy (X-Forwarded-Host set) and a client's X-Original-URL naming another host.
        {"x-forwarded-host": "app.test", "x-original-url": "http://evil.test/"},
        {"x-forwarded-host": "app.test:8443", "x-original-url": "https://evil.test:8443/"},
        # nginx (X-Original-URL set) and a client's X-Forwarded-Host naming another host.
        {"x-original-url": "https://app.test/", "x-forwarded-host": "evil.test"},
        {"x-original-url": "https://app.test/", "x-forwarded-host": "app.test.evil.test"},
    ],
)
def test_two_hosts_for_the_browser_routes_origin_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(
        InvalidForwardedHeaders, match=r"^the request names two hosts \(X-Original-URL and X-Forwarded-Host\)$"
    ):
        browser_origin(headers, scheme="http", trusted=True)


# --- Pinned where mutation testing found the tests loose (docs/testing.md) ---
# Forwarded-header parsing, pinned where mutation testing found it loose (docs/testing.md).
#
# Three kinds of checks: which check refused a request (so a test expecting a refusal for one
# reason cannot pass because of another), the boundaries of host and port, and the memo of parsed
# requests: it may answer a repeat only with what parsing that exact request would give.


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
