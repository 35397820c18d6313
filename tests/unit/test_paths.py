"""What rules are matched against: the path's canonical form, and every reading of an ambiguous one.

Each row is a spelling some app resolves differently from a plain reading (see authgate/access/paths.py);
tests/e2e/test_hostile.py and tests/e2e/test_path_rules_differential.py send such spellings through
real nginx, Traefik and Caddy.
"""

from __future__ import annotations

import pytest

from authgate.access.paths import canonical_path, path_forms, routed_path
from authgate.access.policy import HostRules, skip_rule
from authgate.access.verdicts import AccessRule, Public


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
    ("/public/x;v=1", "Tomcat and Jetty drop ;parameters"),
    ("/public//x", "a repeated slash"),
    ("/public/x.", "a name ending in a dot (Windows drops it)"),
]

PLAIN = [
    ("/public/x", "/public/x"),
    ("/public/.well-known/x", "/public/.well-known/x"),
    ("/public/a..b", "/public/a..b"),
    ("/public/caf%C3%A9", "/public/café"),
    ("/public/%7Euser", "/public/~user"),
    ("/public/100%25", "/public/100%"),
]


@pytest.mark.parametrize(("path", "why"), AMBIGUOUS)
def test_an_ambiguous_path_is_said_to_be(path: str, why: str) -> None:
    forms = path_forms(path)
    assert forms.ambiguous, why
    assert forms.readings()[0] == forms.canonical and len(forms.readings()) > 1


@pytest.mark.parametrize(("path", "why"), AMBIGUOUS)
def test_an_ambiguous_path_is_never_public(path: str, why: str) -> None:
    assert not is_public(["^/public/"], "GET", path), why


@pytest.mark.parametrize(("path", "seen"), PLAIN)
def test_a_plain_path_is_matched_decoded_once(path: str, seen: str) -> None:
    forms = path_forms(path)
    assert not forms.ambiguous and forms.canonical == seen and forms.readings() == (seen,)
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


CANONICAL = [
    # (path as sent, its canonical form, why): the spellings of issue 19's review, and their kin.
    ("//admin/", "/admin/", "a doubled leading slash (nginx, Apache, Tomcat, Spring merge it)"),
    ("///internal/secret.txt", "/internal/secret.txt", "three slashes"),
    ("/.//internal/secret", "/internal/secret", "a dot segment and a repeated slash"),
    ("//internal//secret", "/internal/secret", "repeated slashes everywhere"),
    ("/;x/admin/", "/admin/", "a segment of ;parameters only (Tomcat, Jetty)"),
    ("/;/internal/secret.txt", "/internal/secret.txt", "an empty segment with a ;"),
    ("/admin;jsessionid=1/x", "/admin/x", ";parameters dropped from a segment"),
    ("/a;x/..;y/admin", "/admin", "..; is .. once its parameters are dropped"),
    ("/%2e%2e/admin", "/admin", "encoded dots above the root"),
    ("/pub/%2e%2e/admin", "/admin", "encoded dot-dot"),
    ("/%61dmin/", "/admin/", "an encoded letter"),
    ("/admin%3bx/", "/admin/", "an encoded ; is a ; once decoded"),
    ("/ADMIN/", "/ADMIN/", "case is kept: only a case-insensitive app entry folds it"),
    ("/a/b/..", "/a/", "a trailing dot-dot names the directory"),
    ("/a/.", "/a/", "a trailing dot names the directory"),
    ("/", "/", "the root"),
]


@pytest.mark.parametrize(("raw", "canonical", "why"), CANONICAL)
def test_the_canonical_form(raw: str, canonical: str, why: str) -> None:
    assert path_forms(raw).canonical == canonical, why


@pytest.mark.parametrize(
    ("raw", "reading", "why"),
    [
        ("/public%2f..%2fadmin", "/admin", "an encoded slash read as a slash, then the dots resolved"),
        ("/public\\..\\admin", "/admin", "a backslash read as a slash (IIS)"),
        ("/public/..%5cadmin", "/admin", "an encoded backslash (IIS)"),
        ("/public/%252e%252e/admin", "/admin", "decoded twice"),
        ("/public/..%255cadmin", "/admin", "decoded twice, then a backslash read as a slash"),
        ("/public/#/../admin", "/public/", "a raw # ends the path for some apps"),
        ("/web.config.", "/web.config", "Windows drops a name's trailing dots"),
        ("/x/..;/admin", "/x/..;/admin", "nginx keeps ..; as a name"),
        ("/x\\..;\\admin", "/admin", "backslashes read as slashes, then ..; as .. (IIS in front of Tomcat)"),
        ("/x\\..;\\admin", "/x\\..;\\admin", "as sent"),
        ("//admin/", "//admin/", "as sent: an app that merges nothing"),
    ],
)
def test_an_ambiguous_path_is_read_every_way_an_app_may_read_it(raw: str, reading: str, why: str) -> None:
    assert reading in path_forms(raw).readings(), why


def test_a_plain_path_is_its_own_canonical_form_and_only_reading() -> None:
    forms = path_forms("/dashboard/panel")
    assert (forms.raw, forms.canonical, forms.ambiguous, forms.readings()) == (
        "/dashboard/panel",
        "/dashboard/panel",
        False,
        ("/dashboard/panel",),
    )


def test_the_canonical_form_of_a_decoded_path_decodes_nothing() -> None:
    assert canonical_path("/a/%2e%2e/b") == "/a/%2e%2e/b"
    assert canonical_path("/a;b/c;d;e/") == "/a/c/"


# --- Pinned where mutation testing found the tests loose (docs/testing.md) ---
# The app's view of a path, pinned where mutation testing found it loose (docs/testing.md).


def latin1(raw: bytes) -> str:
    """A path as a proxy header hands it over: bytes decoded as latin-1."""
    return raw.decode("latin-1")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/public/a%2Fb", "upper-case encoded slash"),
        ("/public/a%5Cb", "upper-case encoded backslash"),
        ("/public/a%5cb", "encoded backslash without dots"),
        ("/public/a%252Fb", "double-encoded upper-case slash"),
        ("/public/a%20b", "encoded space"),
        ("/public/a%7fb", "encoded DEL"),
        ("/public/a%09b", "encoded tab"),
        ("/public/%2e", "encoded single dot"),
        ("/public/a%25252fb", "slash encoded three times: an app decoding twice sees %2f"),
        ("/public/a%25255cb", "backslash encoded three times: an app decoding twice sees %5c"),
        ("/public/.%2E;x/admin", "half-encoded dots with ;parameters"),
        (latin1(b"/public/\xff"), "raw byte that is not UTF-8"),
        (latin1(b"/public/%c3"), "encoded byte that is not UTF-8"),
        ("/public/%25c3", "double-encoded byte that is not UTF-8"),
    ],
)
def test_more_ambiguous_spellings(path: str, why: str) -> None:
    assert path_forms(path).ambiguous, why


def plain(path: str) -> str | None:
    """The canonical form of a path that is not ambiguous; None for an ambiguous one."""
    forms = path_forms(path)
    return None if forms.ambiguous else forms.canonical


def test_raw_utf8_is_decoded_as_the_app_sees_it() -> None:
    # nginx passes the raw bytes; ASGI gives them latin-1 decoded; the app reads UTF-8.
    assert plain(latin1("/public/café".encode())) == "/public/café"
    assert plain(latin1("/public/名前/x".encode())) == "/public/名前/x"


def test_the_decoding_depth_is_the_documented_one() -> None:
    # Ambiguous up to a double encoding (raw, once, twice). Three times encoded, the app sees
    # "%252e%252e" after its one decoding: text, not a dot-segment, even decoded once more.
    assert plain("/public/%252e%252e/admin") is None
    assert plain("/public/%25252e%25252e/admin") == "/public/%252e%252e/admin"


# --- the canonical form and the readings (issue 19) ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/public/..%253b/admin", "..; encoded twice: an app decoding twice sees ..;"),
        ("/public/%252e/admin", "a single dot encoded twice"),
        ("/public/%252e;x/admin", "a single dot with ;parameters, encoded twice"),
    ],
)
def test_dot_segments_decoded_twice_are_ambiguous(path: str, why: str) -> None:
    assert path_forms(path).ambiguous, why


def test_the_forms_keep_the_path_as_sent() -> None:
    for raw in ("/%61dmin/", "//admin/", "/plain"):
        assert path_forms(raw).raw == raw
    assert path_forms("/%61dmin/").ambiguous is False


def test_the_readings_of_a_doubled_slash_are_the_canonical_form_and_the_path_as_sent() -> None:
    assert path_forms("//admin/").readings() == ("/admin/", "//admin/")


@pytest.mark.parametrize(
    ("raw", "reading", "not_a_reading"),
    [
        ("/a/#b#c", "/a/", "/a/#b"),  # the path ends at the first raw #
        ("/boX.", "/boX", "/bo"),  # only dots are dropped from a name's end
        ("/admin./x", "/admin/x", None),  # a name inside the path loses its dots too
        ("/x/../admin.", "/admin", "/x//admin"),  # dot segments are not names: kept, then resolved
        ("/x/./admin.", "/x/admin", None),
        ("/x\\.\\admin.", "/x/./admin", "/x//admin"),  # a "." segment is no name either
    ],
)
def test_windows_and_fragment_readings(raw: str, reading: str, not_a_reading: str | None) -> None:
    readings = path_forms(raw).readings()
    assert reading in readings, readings
    assert not_a_reading not in readings, readings


def test_text_that_is_not_latin1_is_read_as_utf8_and_never_raises() -> None:
    # Not what a proxy sends (it sends bytes as latin-1 text), but what `rules explain` or a test may pass.
    assert path_forms("/名前/x").canonical == "/名前/x"
    assert path_forms("/名前//x").canonical == "/名前/x"
    assert path_forms("/a\ud800/x").canonical == "/a?/x", "a lone surrogate cannot be encoded: replaced"
