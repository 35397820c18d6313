"""The app's view of a path, pinned where mutation testing found it loose (docs/testing.md)."""

from __future__ import annotations

import pytest

from app.paths import path_forms


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
