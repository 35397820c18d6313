"""Reading Cookie headers and writing Set-Cookie values."""

from __future__ import annotations

import pytest

from authgate.session.cookies import cookie_values, set_cookie

NAME = "authgate_session"


def attrs(header: str) -> tuple[str, dict[str, str]]:
    """(name=value, {lower-case attribute: value}) of a Set-Cookie value."""
    first, *rest = [p.strip() for p in header.split(";")]
    out: dict[str, str] = {}
    for part in rest:
        key, _, value = part.partition("=")
        assert key.lower() not in out, f"attribute {key} given twice"
        out[key.lower()] = value
    return first, out


# --- cookie_values -------------------------------------------------------------------------------


def test_single_cookie() -> None:
    assert list(cookie_values(f"{NAME}=abc", NAME)) == ["abc"]


def test_several_cookies_of_the_same_name_all_come_back_in_order() -> None:
    header = f"theme=dark; {NAME}=host-cookie; other=1; {NAME}=domain-cookie;{NAME}=third"
    assert list(cookie_values(header, NAME)) == ["host-cookie", "domain-cookie", "third"]


def test_similar_names_do_not_match() -> None:
    header = f"{NAME}_old=a; x{NAME}=b; {NAME.upper()}=c; {NAME}2=d"
    assert list(cookie_values(header, NAME)) == []
    assert list(cookie_values(header + f"; {NAME}=yes", NAME)) == ["yes"]


def test_name_appearing_only_in_a_value_does_not_match() -> None:
    assert list(cookie_values(f"other={NAME}", NAME)) == []
    assert list(cookie_values(f"other={NAME}=x", NAME)) == []


def test_values_keep_equals_and_lose_quotes_and_spaces() -> None:
    header = f' {NAME}="quoted" ; a=1; {NAME}=b64==; {NAME}=x.y.z '
    assert list(cookie_values(header, NAME)) == ["quoted", "b64==", "x.y.z"]


@pytest.mark.parametrize("header", ["", ";", ";;;", NAME, f"{NAME};", "a=1; b=2"])
def test_nothing_to_find(header: str) -> None:
    assert list(cookie_values(header, NAME)) == []


def test_empty_value_is_yielded_as_empty_string() -> None:
    assert list(cookie_values(f"{NAME}=; a=1", NAME)) == [""]


def test_huge_header_is_handled() -> None:
    header = "; ".join(f"c{i}=v{i}" for i in range(5000)) + f"; {NAME}=last"
    assert list(cookie_values(header, NAME)) == ["last"]


# --- set_cookie ----------------------------------------------------------------------------------


def test_set_cookie_defaults() -> None:
    first, a = attrs(set_cookie(NAME, "v.a.l", max_age=3600, secure=False))
    assert first == f"{NAME}=v.a.l"
    assert a["path"] == "/"
    assert a["max-age"] == "3600"
    assert "httponly" in a
    assert a["samesite"] == "Lax"
    assert "secure" not in a
    assert "domain" not in a
    assert "expires" not in a


def test_set_cookie_secure_only_when_asked() -> None:
    _, a = attrs(set_cookie(NAME, "v", max_age=60, secure=True))
    assert "secure" in a
    assert "httponly" in a
    assert a["samesite"] == "Lax"


def test_set_cookie_domain_only_when_given() -> None:
    _, a = attrs(set_cookie(NAME, "v", max_age=60, secure=True, domain="example.test"))
    assert a["domain"] == "example.test"
    _, b = attrs(set_cookie(NAME, "v", max_age=60, secure=True, domain=""))
    assert "domain" not in b


def test_set_cookie_path() -> None:
    _, a = attrs(set_cookie(NAME, "v", max_age=60, secure=False, path="/outpost.goauthentik.io"))
    assert a["path"] == "/outpost.goauthentik.io"


@pytest.mark.parametrize("max_age", [0, -1])
def test_clearing_cookie(max_age: int) -> None:
    first, a = attrs(set_cookie(NAME, "", max_age=max_age, secure=True, domain="example.test"))
    assert first == f"{NAME}="
    assert a["max-age"] == str(max_age)
    assert "1970" in a["expires"]
    assert a["domain"] == "example.test"  # must match the cookie it clears
    assert "httponly" in a
    assert "secure" in a


def test_set_cookie_is_one_line() -> None:
    value = set_cookie(NAME, "v", max_age=10, secure=True, domain="example.test")
    assert "\r" not in value
    assert "\n" not in value
    assert value.count(f"{NAME}=") == 1
