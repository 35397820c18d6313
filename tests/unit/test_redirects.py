"""Redirect validation: where ``rd`` and the original URL may send a browser."""

from __future__ import annotations

import pytest

from authgate.access.redirects import MAX_URL_LENGTH, host_matches, validate_redirect
from authgate.errors import BadRequest, InvalidRedirect

REQ = "app.test"


def ok(target: str, **kw: object) -> str:
    kw.setdefault("request_host", REQ)
    return validate_redirect(target, **kw)  # type: ignore[arg-type]


def refused(target: str, **kw: object) -> None:
    kw.setdefault("request_host", REQ)
    with pytest.raises(InvalidRedirect):
        validate_redirect(target, **kw)  # type: ignore[arg-type]


# --- host_matches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("example.test", "example.test"),
        ("a.example.test", "example.test"),
        ("a.b.example.test", "example.test"),
        ("A.Example.TEST", "example.test"),
        ("a.example.test", "EXAMPLE.test"),
        ("a.example.test.", "example.test"),
        ("a.example.test", "example.test."),
        ("a.example.test", ".example.test"),
        ("a.b.example.test", ".example.test"),
    ],
)
def test_host_matches_yes(host: str, domain: str) -> None:
    assert host_matches(host, domain) is True


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("evilexample.test", "example.test"),  # no dot boundary
        ("evilexample.test", ".example.test"),
        ("example.test.evil.test", "example.test"),
        ("example.test", "a.example.test"),
        ("xample.test", "example.test"),
        ("example.test", ".example.test"),  # leading dot: subdomains only
        ("other.test", "example.test"),
        ("", "example.test"),
        ("example.test", "."),
        (".example.test", ".example.test"),
        ("example.test", ""),
    ],
)
def test_host_matches_no(host: str, domain: str) -> None:
    assert host_matches(host, domain) is False


# --- validate_redirect: allowed -----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://app.test/",
        "https://app.test",
        "http://app.test/path?q=1#frag",
        "https://APP.test/Mixed/Case",
        "https://App.Test:8443/x",
        "https://app.test/caf%C3%A9?a=%2F%2Fevil.test",
        "https://app.test/a//b",
    ],
)
def test_same_host_is_allowed_and_returned_unchanged(target: str) -> None:
    assert ok(target) == target


def test_request_host_may_carry_a_port_and_case() -> None:
    assert ok("https://app.test/x", request_host="APP.test:8443") == "https://app.test/x"


def test_ipv6_request_host() -> None:
    assert ok("http://[::1]:9000/x", request_host="[::1]:8080") == "http://[::1]:9000/x"
    refused("http://[::2]/x", request_host="[::1]:8080")


def test_other_host_without_any_config_is_refused() -> None:
    refused("https://other.test/")


@pytest.mark.parametrize(
    "target",
    [
        "https://example.test/",
        "https://grafana.example.test/d/1",
        "https://a.b.example.test/",
        "https://GRAFANA.Example.Test/",
        "https://grafana.example.test./",
    ],
)
def test_cookie_domain_covers_its_subdomains(target: str) -> None:
    assert ok(target, cookie_domain="example.test") == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evilexample.test/",
        "https://example.test.evil.test/",
        "https://example.testevil.test/",
        "https://evil.test/?next=https://a.example.test/",
        "https://evil.test/a.example.test",
        "https://evil.test#.example.test",
    ],
)
def test_cookie_domain_needs_a_dot_boundary(target: str) -> None:
    refused(target, cookie_domain="example.test")


def test_cookie_domain_with_leading_dot_still_covers_subdomains() -> None:
    assert ok("https://a.example.test/", cookie_domain=".example.test")
    refused("https://evilexample.test/", cookie_domain=".example.test")


def test_allowed_redirect_domains() -> None:
    domains = ["status.test", ".corp.test"]
    assert ok("https://status.test/", allowed_domains=domains)
    assert ok("https://a.status.test/", allowed_domains=domains)
    assert ok("https://wiki.corp.test/", allowed_domains=domains)
    assert ok("https://a.b.corp.test/", allowed_domains=domains)
    refused("https://corp.test/", allowed_domains=domains)  # leading dot: subdomains only
    refused("https://evilcorp.test/", allowed_domains=domains)
    refused("https://evilstatus.test/", allowed_domains=domains)
    refused("https://other.test/", allowed_domains=domains)


def test_allowed_domains_accepts_any_iterable_and_ignores_empty_entries() -> None:
    assert ok("https://a.corp.test/", allowed_domains=iter(["", "corp.test"]))
    refused("https://other.test/", allowed_domains=("", "."))


# --- validate_redirect: refused -----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "",
        "/relative/path",
        "relative",
        "//evil.test",
        "//evil.test/x",
        "///evil.test",
        "https:///evil.test",
        "https:evil.test",
        "https://",
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "javascript://app.test/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "ftp://app.test/",
        "file:///etc/passwd",
        "ws://app.test/",
        "mailto:a@app.test",
    ],
)
def test_non_http_or_non_absolute_targets_are_refused(target: str) -> None:
    refused(target, cookie_domain="app.test", allowed_domains=["app.test"])


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.test",
        "\\\\evil.test",
        "https:\\\\evil.test",
        "https://app.test\\@evil.test/",
        "https://evil.test\\.app.test/",
        "https://app.test/\\evil.test",
    ],
)
def test_backslashes_are_refused(target: str) -> None:
    refused(target)


@pytest.mark.parametrize(
    "target",
    [
        "https://good.test@evil.test/",
        "https://app.test@evil.test/",
        "https://app.test:443@evil.test/",
        "https://user:pass@app.test/",
        "https://user@app.test/",
        "https://:@app.test/",
        "https://@app.test/",
    ],
)
def test_userinfo_is_refused(target: str) -> None:
    refused(target, allowed_domains=["good.test"])


@pytest.mark.parametrize(
    "target",
    [
        "https://app.test/\r\nSet-Cookie: a=b",
        "https://app.test/\nx",
        "https://app.test/\rx",
        "https://app.test/\x00",
        "https://app.test/\t",
        "https://app.test/a b",
        "https://app.test/\x7f",
        "https://app.test/\x1b",
        " https://app.test/",
        "https://app.test/ ",
        "\thttps://app.test/",
        "java\tscript:alert(1)",
        "/\t/evil.test",
    ],
)
def test_control_characters_and_spaces_are_refused(target: str) -> None:
    refused(target)


def test_length_limit() -> None:
    base = "https://app.test/"
    at_limit = base + "a" * (MAX_URL_LENGTH - len(base))
    assert ok(at_limit) == at_limit
    refused(at_limit + "a")
    refused(base + "a" * 100_000)


@pytest.mark.parametrize(
    "target",
    [
        "https://app.test:99999/",
        "https://app.test:65536/",
        "https://app.test:-1/",
        "https://app.test:+80/",
        "https://app.test:abc/",
        "https://app.test:80:80/",
        "https://app.test:８０/",
        "https://[::1/",
        "https://[evil.test]/",
    ],
)
def test_malformed_ports_and_hosts_are_refused(target: str) -> None:
    refused(target, request_host="app.test", cookie_domain="app.test")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test./",
        "https://evil.test/",
        "https://app.test.evil.test/",
        "https://evil.test?@app.test",
        "https://evil.test#@app.test",
        "https://evil.test%2F@app.test",
        "https://evil.test／.app.test/",  # fullwidth solidus NFKC-normalises to "/"
    ],
)
def test_lookalike_targets_are_refused(target: str) -> None:
    refused(target)


def test_invalid_redirect_is_a_bad_request() -> None:
    # The HTTP layer turns BadRequest into a 400 page; a plain ValueError would be a 500.
    with pytest.raises(BadRequest):
        validate_redirect("https://evil.test/", request_host=REQ)


# --- Pinned where mutation testing found the tests loose (docs/testing.md) ---
# Redirect validation, pinned where mutation testing found it loose (docs/testing.md).
#
# A refusal names the check that refused: a test that expects "refused" for one reason must not
# pass because an earlier check refused for another.


def refusal(target: str, **kw: object) -> str:
    kw.setdefault("request_host", REQ)
    with pytest.raises(InvalidRedirect) as caught:
        validate_redirect(target, **kw)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("", "missing or over-long redirect target"),
        ("https://app.test/" + "a" * MAX_URL_LENGTH, "missing or over-long redirect target"),
        ("https://app.test/a b", "redirect target contains control characters, spaces or backslashes"),
        ("https://app.test/\x7f", "redirect target contains control characters, spaces or backslashes"),
        ("https://app.test\\@evil.test/", "redirect target contains control characters, spaces or backslashes"),
        ("https://app.test:99999/", "malformed redirect target"),
        ("https://[::1/", "malformed redirect target"),
        ("https:///path", "redirect target must be an absolute http(s) URL"),
        ("/relative", "redirect target must be an absolute http(s) URL"),
        ("ftp://app.test/", "redirect target must be an absolute http(s) URL"),
        ("https://user@app.test/", "redirect target must not carry credentials"),
        ("https://:pw@app.test/", "redirect target must not carry credentials"),
        ("https://evil.test/", "redirect to host 'evil.test' is not allowed"),
    ],
)
def test_each_refusal_names_its_check(target: str, reason: str) -> None:
    assert refusal(target) == reason


def test_the_request_host_must_match_exactly_not_as_a_suffix() -> None:
    # `host == request host` turned into `endswith` would open evilapp.test from app.test.
    assert refusal("https://evilapp.test/") == "redirect to host 'evilapp.test' is not allowed"
    assert refusal("https://evil-app.test/", request_host="app.test:8443")
    assert refusal("https://app.test.evil/")


@pytest.mark.parametrize("host", ["xxxx", "evil.test", "localhost", "a"])
def test_without_cookie_or_allowed_domains_only_the_request_host_passes(host: str) -> None:
    # The defaults are empty: no placeholder domain may stand in for a missing cookie domain.
    assert refusal(f"https://{host}/") == f"redirect to host {host!r} is not allowed"


@pytest.mark.parametrize("request_host", ["", ":8080"])
def test_a_request_host_without_a_name_matches_no_target(request_host: str) -> None:
    for host in ("xxxx", "app.test"):
        assert refusal(f"https://{host}/", request_host=request_host)


@pytest.mark.parametrize("char", ["!", '"', "$", "'", "(", "*", "~"])
def test_printable_characters_after_the_space_are_allowed(char: str) -> None:
    # 0x21 ("!") is the first character allowed: the check refuses below it, not at it.
    target = f"https://app.test/a{char}b"
    assert validate_redirect(target, request_host=REQ) == target
