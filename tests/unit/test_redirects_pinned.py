"""Redirect validation, pinned where mutation testing found it loose (docs/testing.md).

A refusal names the check that refused: a test that expects "refused" for one reason must not
pass because an earlier check refused for another.
"""

from __future__ import annotations

import pytest

from authgate.access.redirects import MAX_URL_LENGTH, validate_redirect
from authgate.errors import InvalidRedirect

REQ = "app.test"


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
