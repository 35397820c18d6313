"""Operator regexes (path rules, ``skip_auth``, ``AUTHGATE_SKIP_AUTH``), matched with RE2.

Python's ``re`` backtracks: ``/.*/.*/admin``, a rule an operator may well write, held the event loop
for 95 s on one anonymous 8 KB path. RE2 (``google-re2``, RE2 itself) matches in time linear in the
path whatever the pattern, because it never backtracks; so it has no lookarounds and no
backreferences. ``problem`` tells, at load, why a pattern cannot be taken and what to write instead.

A host's rules are matched together: ``RuleSet`` is one RE2 set, one pass over the path names every
rule that matches (0.6 µs, against 1.5 µs per rule through re2's one-pattern API). Only this module
imports re2, which ships no type information: the rest of authgate sees the types given here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import re2

from authgate.errors import ConfigError

# What to write instead, found in the pattern or in what RE2 said of it; the first that fits.
_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\(\?[=!]"),
        "RE2 has no lookahead. Rules are tried in order: give the paths to leave out a rule of their own "
        "before this one (`^/(?!public/)` becomes a rule `^/public/`, then `^/`)",
    ),
    (
        re.compile(r"\(\?<[=!]"),
        "RE2 has no lookbehind: match the text before as part of the pattern (`(?<=/api)/v1` becomes "
        "`/api/v1`); for `(?<!...)`, give the paths to leave out a rule of their own before this one",
    ),
    (
        re.compile(r"\\[1-9]|\(\?P="),
        "RE2 has no backreferences: spell each alternative out (`/(a|b)/\\1` becomes `/(?:a/a|b/b)`)",
    ),
    (re.compile(r"\\Z"), "RE2 writes the end of the text `\\z` (or `$`)"),
    (
        re.compile(r"\(\?>|[*+?}]\+"),
        "RE2 never backtracks, so atomic groups and possessive quantifiers are not needed: write "
        "`(?:...)` and `*`, `+`, `?`",
    ),
    (re.compile(r"repetition size"), "RE2 counts up to 1000: write `{1,1000}` or `+`"),
)


def _options(*, ignore_case: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr: problem() says why
    options.case_sensitive = not ignore_case
    return options


def problem(pattern: str) -> str | None:
    """Why RE2 cannot take ``pattern``, and what to write instead; None when it can."""
    try:
        re2.compile(pattern, _options())
    except re2.error as exc:
        said = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        advice = next((text for found, text in _ADVICE if found.search(f"{pattern}\n{said}")), None)
        if advice is None:
            return f"{pattern!r} is not a valid regular expression ({said})"
        return f"{pattern!r} is not RE2 syntax ({said}). {advice}"
    return None


class RuleSet:
    """Patterns matched together; ``matching(text)`` lists the indices of those that match ``text``.

    ``None`` stands for a rule without a pattern: it matches every text.
    """

    __slots__ = ("_all", "_one_by_one", "_set")

    def __init__(self, patterns: Sequence[str | None], *, ignore_case: bool = False) -> None:
        sources = ["" if p is None else p for p in patterns]
        bad = [why for p in sources if (why := problem(p)) is not None]
        if bad:
            raise ConfigError(bad)
        options = _options(ignore_case=ignore_case)
        self._set = re2.Set.SearchSet(options)
        for source in sources:
            self._set.Add(source)
        # One more pattern, matching every text: were it missing from an answer, the set's automaton
        # gave up (out of memory; RE2 checks at Compile that it has room, so this is a second guard),
        # which must read as "cannot tell", never as "no rule matches".
        self._all = self._set.Add("")
        self._set.Compile()
        self._one_by_one = tuple(re2.compile(source, options) for source in sources)

    def matching(self, text: str) -> list[int]:
        found: list[int] | None = self._set.Match(text)
        if found is None or self._all not in found:
            # One pattern at a time: re2's one-pattern search falls back to its NFA, never gives up.
            return [i for i, regex in enumerate(self._one_by_one) if regex.search(text) is not None]
        found.remove(self._all)
        return found
