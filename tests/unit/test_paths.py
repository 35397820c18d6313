"""What a public-path rule is matched against: the path decoded once, or nothing when ambiguous.

Each row is a spelling some app resolves differently from a plain reading (see authgate/access/paths.py);
tests/e2e/test_hostile.py sends the same ones through real nginx, Traefik and Caddy.
"""

from __future__ import annotations

import pytest

from authgate.access.paths import app_path, routed_path
from authgate.access.policy import AccessRule, HostRules, Public, skip_rule


def is_public(skip: list[str], method: str, path: str) -> bool:
    """Whether the short-form public routes ``skip`` open ``path``."""
    host = HostRules(AccessRule.build(), tuple(skip_rule(r, "t") for r in skip))
    return isinstance(host.decide(method, path), Public)


AMBIGUOUS = [
    ("/public/../admin", "raw dot-segment"),
    ("/public/./admin", "raw single dot"),
    ("/public/..", "trailing dot-segment"),
    ("/public/..;/admin", "Tomcat/Jetty: ..; is .."),
    ("/public/.;x/admin", "dot with ;parameters"),
    ("/public/%2e%2e;/admin", "encoded dots with ;"),
    ("/public/%2E%2E/admin", "upper-case escapes"),
    ("/public/.%2e/admin", "half-encoded dots"),
    ("/public/..%3b/admin", "encoded ; after dots"),
    ("/public/%252e%252e/admin", "double-encoded dots"),
    ("/public/..%5cadmin", "encoded backslash (IIS reads \\ as /)"),
    ("/public/..\\admin", "raw backslash"),
    ("/public/%255c", "double-encoded backslash"),
    ("/public/a%2fb", "encoded slash"),
    ("/public/a%252fb", "double-encoded slash"),
    ("/public/#/../admin", "raw # (some read it as the end of the path)"),
    ("/public/x#y", "raw # without dots"),
    ("/public/%00", "encoded NUL"),
    ("/public/%0a", "encoded newline"),
    ("/public/a%20b/../x", "encoded space and dots"),
    ("/public/%ff", "not UTF-8"),
]

PLAIN = [
    ("/public/x", "/public/x"),
    ("/public/.well-known/x", "/public/.well-known/x"),
    ("/public/a..b", "/public/a..b"),
    ("/public/x;v=1", "/public/x;v=1"),
    ("/public/caf%C3%A9", "/public/café"),
    ("/public/%7Euser", "/public/~user"),
    ("/public/100%25", "/public/100%"),
]


@pytest.mark.parametrize(("path", "why"), AMBIGUOUS)
def test_an_ambiguous_path_has_no_app_path(path: str, why: str) -> None:
    assert app_path(path) is None, why


@pytest.mark.parametrize(("path", "why"), AMBIGUOUS)
def test_an_ambiguous_path_is_never_public(path: str, why: str) -> None:
    assert not is_public(["^/public/"], "GET", path), why


@pytest.mark.parametrize(("path", "seen"), PLAIN)
def test_a_plain_path_is_matched_decoded_once(path: str, seen: str) -> None:
    assert app_path(path) == seen
    assert is_public(["^/public/"], "GET", path)


def test_rules_see_the_decoded_path_and_stay_case_sensitive() -> None:
    assert is_public(["^/public/caf\u00e9$"], "GET", "/public/caf%C3%A9")
    assert not is_public(["^/public/"], "GET", "/PUBLIC/x")


@pytest.mark.parametrize("method", ["", "POST", "DELETE"])
def test_a_method_rule_never_matches_another_or_an_unknown_method(method: str) -> None:
    assert not is_public(["GET=^/status"], method, "/status")
    assert is_public(["GET=^/status"], "GET", "/status")
    assert is_public(["^/status"], method, "/status")


ROUTED = [
    # (path as sent, the path a server routes on, why it matters)
    ("/outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io/auth/nginx", "plain: as is"),
    ("/app/page?x", "/app/page?x", "nothing to resolve"),
    ("//outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io/auth/nginx", "a doubled leading slash"),
    ("/outpost.goauthentik.io//auth///nginx", "/outpost.goauthentik.io/auth/nginx", "repeated slashes"),
    ("/outpost.goauthentik.io/%61uth/nginx", "/outpost.goauthentik.io/auth/nginx", "an encoded letter"),
    ("/outpost.goauthentik.io%2fauth%2Fnginx", "/outpost.goauthentik.io/auth/nginx", "encoded slashes"),
    ("/x/../outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io/auth/nginx", "a dot-dot segment"),
    ("/x/%2e%2e/outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io/auth/nginx", "encoded dot-dot"),
    ("/outpost.goauthentik.io/./auth/./nginx", "/outpost.goauthentik.io/auth/nginx", "dot segments"),
    ("/../../outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io/auth/nginx", "above the root"),
    ("/a/b/..", "/a/", "a trailing dot-dot names the directory"),
    ("/a/.", "/a/", "a trailing dot names the directory"),
    ("/..", "/", "only dots"),
    ("/.", "/", "only a dot"),
    ("/a/..b/.c", "/a/..b/.c", "names that start with dots are names"),
    ("/a/%2561", "/a/%61", "decoded once only"),
    ("/a/%ff", "/a/\udcff", "a byte that is not UTF-8 stays a byte"),
    (".%2e", "/", "no leading slash, nothing left: the root"),
]


@pytest.mark.parametrize(("raw", "routed", "why"), ROUTED)
def test_the_routed_path_is_the_one_a_server_routes_on(raw: str, routed: str, why: str) -> None:
    assert routed_path(raw) == routed, why
