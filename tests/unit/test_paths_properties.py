"""Properties of the canonical path form (authgate/access/paths.py), over paths hypothesis makes up.

The paths are built from the pieces that change meanings (dots, slashes, ``;``, escapes of each,
backslashes, ``#``, bytes that are not UTF-8) and from any text at all; each property must hold for
every one of them.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from authgate.access.paths import canonical_path, path_forms
from authgate.access.policy import HostRules, PathRule
from authgate.access.verdicts import AccessRule, Deny, Public
from authgate.model import Identity

PIECES = [
    "/",
    "//",
    ".",
    "..",
    ";",
    ";x=1",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%3b",
    "%25",
    "%252e",
    "%252f",
    "\\",
    "#",
    "%23",
    "%00",
    "%20",
    "%ff",
    "%C3%A9",
    "a",
    "admin",
    "ADMIN",
    "internal",
    "public",
    "x.",
]
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=12).map(lambda parts: "/" + "".join(parts))
ANY_TEXT = st.text(max_size=40).map(lambda text: "/" + text)
PATHS = st.one_of(HOSTILE, ANY_TEXT)

# A host whose rules would open any path, and refuse two prefixes: what an ambiguous path meets.
HOST = HostRules(
    AccessRule.build(groups=["staff"]),
    (
        PathRule("^/internal/", None, Deny("deny /internal/")),
        PathRule("^/admin", None, AccessRule.build(groups=["ops"], name="ops only")),
        PathRule("^/", None, Public("everything public")),
    ),
)


@settings(max_examples=150, deadline=None)
@given(PATHS)
@example("//admin/")
@example("/;/internal/secret.txt")
def test_the_canonical_form_is_idempotent(raw: str) -> None:
    canonical = path_forms(raw).canonical
    assert canonical_path(canonical) == canonical
    if canonical.isascii() and "%" not in canonical:
        # Read again as a path sent by a proxy, it is its own canonical form.
        assert path_forms(canonical).canonical == canonical


@settings(max_examples=150, deadline=None)
@given(PATHS)
@example("/%C3%A9")
@example("/%ff")
def test_the_canonical_form_is_never_longer_than_the_path_sent(raw: str) -> None:
    assert len(path_forms(raw).canonical) <= len(raw)


@settings(max_examples=150, deadline=None)
@given(PATHS)
@example("/public//x")
@example("/a/..;/b")
def test_an_ambiguous_path_is_never_public(raw: str) -> None:
    forms = path_forms(raw)
    verdict = HOST.decide("GET", raw)
    if forms.ambiguous:
        assert not isinstance(verdict, Public), (raw, forms)
    else:
        assert forms.readings() == (forms.canonical,)
    assert forms.readings()[0] == forms.canonical


@settings(max_examples=150, deadline=None)
@given(PATHS)
@example("///internal/secret.txt")
@example("/.//internal/secret")
@example("/x/%2e%2e/internal/x")
def test_a_deny_that_meets_the_canonical_form_denies(raw: str) -> None:
    if path_forms(raw).canonical.startswith("/internal/"):
        assert isinstance(HOST.decide("GET", raw), Deny), raw


@settings(max_examples=150, deadline=None)
@given(PATHS)
@example("//admin/")
@example("/;x/admin/")
def test_a_protected_canonical_form_keeps_its_rule(raw: str) -> None:
    forms = path_forms(raw)
    if forms.canonical.startswith("/admin"):
        verdict = HOST.decide("GET", raw)
        if isinstance(verdict, Deny):
            return  # another reading of it reaches /internal/: stricter still
        assert not isinstance(verdict, Public)
        # The admin rule, alone or among every reading's rules (AllOf): never less than ops only.
        assert verdict.refusal(STAFF, "") is not None, raw
        assert verdict.refusal(OPS, "") is None, "a user allowed on every page it can name passes"


STAFF = Identity(sub="s", username="u", groups=("staff",))
OPS = Identity(sub="o", username="o", groups=("ops", "staff"))
