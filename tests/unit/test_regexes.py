"""Operator regexes on RE2 (authgate/regexes.py): what it refuses and what it advises, how a set matches."""

from __future__ import annotations

from typing import Any

import pytest

from authgate.errors import ConfigError
from authgate.regexes import RuleSet, problem

ADVICE = [
    # (a pattern Python's re takes and RE2 does not, what the advice must say)
    ("^/(?!public/)", "RE2 has no lookahead"),
    ("^/admin(?=/)", "RE2 has no lookahead"),
    ("(?<=/api)/v1", "RE2 has no lookbehind"),
    ("(?<!/api)/v1", "RE2 has no lookbehind"),
    ("/(a|b)/\\1", "RE2 has no backreferences"),
    ("/(?P<x>a)/(?P=x)", "RE2 has no backreferences"),
    ("^/health\\Z", "`\\z`"),
    ("^/a++", "possessive"),
    ("^/(?>ab)", "atomic groups"),
    ("^/a{1001}", "up to 1000"),
]


@pytest.mark.parametrize(("pattern", "advice"), ADVICE)
def test_a_pattern_re2_cannot_take_is_refused_with_what_to_write_instead(pattern: str, advice: str) -> None:
    why = problem(pattern)
    assert why is not None and why.startswith(f"{pattern!r} is not RE2 syntax (") and advice in why, why


def test_a_broken_pattern_is_said_to_be_one() -> None:
    assert problem("^/(unclosed") == "'^/(unclosed' is not a valid regular expression (missing ): ^/(unclosed)"


@pytest.mark.parametrize("pattern", ["^/admin", "/.*/.*/admin", "(?i)^/x", "^/api/v\\d+/", "\\.php$", ""])
def test_what_re2_takes_is_fine(pattern: str) -> None:
    assert problem(pattern) is None


def test_a_set_names_every_pattern_that_matches_anywhere_in_the_text() -> None:
    rules = RuleSet(["^/admin", None, "/public/", "\\.css$"])
    assert sorted(rules.matching("/admin/x.css")) == [0, 1, 3]
    assert sorted(rules.matching("/app/public/y")) == [1, 2], "searched, not anchored"
    assert rules.matching("/ADMIN") == [1], "case-sensitive"
    assert sorted(RuleSet(["^/admin"], ignore_case=True).matching("/ADMIN")) == [0]
    assert RuleSet([]).matching("/x") == []


def test_a_set_refuses_a_pattern_re2_cannot_take() -> None:
    with pytest.raises(ConfigError) as refused:
        RuleSet(["^/ok", "^/(?!public/)", "("])
    assert len(refused.value.problems) == 2


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    # Python's re takes minutes here (95 s for 8 KB); RE2 reads the path once. No timing asserted:
    # a backtracking engine would hold this test far past pytest's timeout.
    rules = RuleSet(["/.*/.*/admin", "(a|aa)+$", "(x+x+)+y"])
    assert rules.matching("/a" * 4000) == [1]
    assert rules.matching("x" * 8000) == []


class GivingUp:
    """An RE2 set whose automaton ran out of memory: it answers without its match-all pattern."""

    def Match(self, text: Any) -> list[int] | None:
        return None


def test_when_the_set_gives_up_every_pattern_is_matched_on_its_own() -> None:
    rules = RuleSet(["^/admin", "^/internal/"])
    rules._set = GivingUp()  # type: ignore[attr-defined]
    assert rules.matching("/internal/x") == [1], "never read as 'no rule matches'"
    assert rules.matching("/other") == []
