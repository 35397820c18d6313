#!/usr/bin/env python3
"""`make mutation`: mutation testing of the security-critical pure modules (docs/testing.md).

Two sources of mutants, both tested by tests/unit only:

- mutmut (pinned in pyproject's dev extra; configured by ``[tool.mutmut]``): every function and
  method body of the modules in ``only_mutate``. mutmut 3 mutates no module-level code and no
  decorated function (other than static and class methods), and it does not edit regular
  expressions, so
- a catalogue (``CATALOGUE``, tools/mutation/catalogue.py) of hand-written mutants covers what it cannot reach: the
  patterns, header lists, sizes and limits defined at module level, ``clean_host`` and
  ``_method`` (``@lru_cache``), and the changes of meaning the issue that introduced this run
  found surviving (a verified-ticket memo keyed by session id, ``==`` turned into
  ``endswith``, AES-128, an 8-byte nonce ...). Each is applied to a copy of the module; the unit
  test files that import the module run against it, then, if they let it live, the whole unit suite.

Everything runs in a snapshot of the tree in ``.mutation/`` (git-ignored), never in the tree
itself. A survivor that cannot change behaviour is listed in ``EQUIVALENT`` (tools/mutation/equivalents.py)
with its reason (docs/testing.md shows the same list); every other survivor is printed with its diff.

Prints killed/survived/score per module, the survivors, and ends with
``mutation score: K/N killed (R%)`` over the non-equivalent mutants of the modules run. Exits 1
when a module scores under ``--min-score`` (95) or an entry of ``CATALOGUE`` / ``EQUIVALENT`` no
longer matches the code.

    .venv/bin/python -m tools.mutation                      # every module of [tool.mutmut]
    .venv/bin/python -m tools.mutation authgate/session/tickets.py       # some modules only
    .venv/bin/python -m tools.mutation --changed-since origin/main
    .venv/bin/python -m tools.mutation --list-equivalents   # the table for docs/testing.md

After a run, ``cd .mutation/tool && ../../.venv/bin/mutmut show NAME`` (or ``browse``) shows a
mutmut mutant.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tools.mutation.catalogue import CATALOGUE, HandMutant
from tools.mutation.equivalents import EQUIVALENT, Equivalent, table

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutation"
UNIT_TESTS = "tests/unit"
# What the unit tests import and read (tests/unit/test_docs.py: tools.docs_gen, docs/configuration.md;
# tests/unit/test_rules.py: the rules files shown in docs/; other tests: shipped files in deploy/).
SNAPSHOT_DIRS = ("authgate", "tests", "tools", "docs", "deploy")
SNAPSHOT_FILES: tuple[str, ...] = ("README.md",)


# --- running -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    source: str  # "mutmut" or "catalogue"
    name: str
    status: str  # killed, survived, no tests, timeout ...
    diff: str = ""
    equivalent: Equivalent | None = None


@dataclass
class ModuleResult:
    module: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, *, source: str | None = None, killed: bool | None = None, equivalent: bool = False) -> int:
        n = 0
        for o in self.outcomes:
            if source is not None and o.source != source:
                continue
            if (o.equivalent is not None) != equivalent:
                continue
            if killed is not None and is_killed(o.status) != killed:
                continue
            n += 1
        return n


def is_killed(status: str) -> bool:
    # A timeout or a crash is a test run the mutant made fail.
    return status in ("killed", "timeout", "segfault", "caught by type check")


def mutmut_config() -> dict[str, list[str]]:
    config: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return config


def configured_modules() -> list[str]:
    return list(mutmut_config()["only_mutate"])


def select_modules(args: argparse.Namespace) -> list[str]:
    modules = configured_modules()
    wanted: list[str] = []
    for name in args.modules:
        matches = [m for m in modules if m == name or Path(m).stem == name]
        if not matches:
            sys.exit(f"mutation: {name} is not one of the configured modules: {', '.join(modules)}")
        wanted += matches
    if args.changed_since:
        out = subprocess.run(
            ["git", "diff", "--name-only", args.changed_since, "--", *modules],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        wanted += [m for m in modules if m in out]
        if not wanted:
            print(f"mutation: no configured module changed since {args.changed_since}")
            sys.exit(0)
    selected = [m for m in modules if m in wanted] if wanted else modules
    return selected


def snapshot(target: Path) -> None:
    """authgate/, tests/ and what the unit tests need, copied without caches or node_modules."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".pytest_cache")
    target.mkdir(parents=True)
    for name in SNAPSHOT_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target / name, ignore=ignore)
    for name in SNAPSHOT_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


def write_config(target: Path, modules: list[str]) -> None:
    """pyproject.toml with ``only_mutate`` narrowed to the selected modules."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = "".join(f'    "{m}",\n' for m in modules)
    text, n = re.subn(r"(?ms)^only_mutate = \[\n.*?^\]", f"only_mutate = [\n{listed}]", text)
    if n != 1:
        sys.exit("mutation: could not find only_mutate in [tool.mutmut]")
    (target / "pyproject.toml").write_text(text)


def run_mutmut(work: Path, jobs: int) -> None:
    log = work / "mutmut.log"
    with log.open("w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        sys.exit(f"mutation: mutmut run failed ({proc.returncode}); the end of {log}:\n{tail}")


def mutmut_outcomes(work: Path, modules: list[str]) -> dict[str, list[Outcome]]:
    os.chdir(work)  # mutmut's helpers read mutants/ and pyproject.toml from the working directory
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    result: dict[str, list[Outcome]] = {}
    for module in modules:
        meta_path = work / "mutants" / f"{module}.meta"
        codes = json.loads(meta_path.read_text())["exit_code_by_key"] if meta_path.exists() else {}
        outcomes = []
        for name, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
            status = status_by_exit_code[code]
            diff = "" if is_killed(status) else get_diff_for_mutant(name, path=module)
            outcomes.append(Outcome("mutmut", name, status, diff))
        result[module] = outcomes
    os.chdir(ROOT)
    return result


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return (stem, int(number) if number.isdigit() else 0)


def changed_lines(diff: str) -> tuple[str, str]:
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return "\n".join(removed), "\n".join(added)


def apply_edits(source: str, mutant: HandMutant) -> str | None:
    for find, replace in mutant.edits:
        if source.count(find) != 1:
            return None
        source = source.replace(find, replace)
    return source


def focused_tests(tree: Path, module: str) -> list[str]:
    """The unit test files that import ``module`` (``authgate/access/policy.py``), by path from ``tree``."""
    package, _, name = module.removesuffix(".py").replace("/", ".").rpartition(".")
    names = (f"{package}.{name}", f"from {package} import {name}")
    found = (p for p in sorted((tree / UNIT_TESTS).glob("test_*.py")) if any(n in p.read_text() for n in names))
    return [str(p.relative_to(tree)) for p in found]


def run_catalogue(trees: list[Path], modules: list[str]) -> tuple[dict[str, list[Outcome]], list[str]]:
    """Each hand-written mutant in one of ``trees`` (a snapshot each): the unit suite must fail."""
    mutants = [m for m in CATALOGUE if m.module in modules]
    stale: list[str] = []
    runnable: list[tuple[HandMutant, str]] = []
    for mutant in mutants:
        mutated = apply_edits((trees[0] / mutant.module).read_text(), mutant)
        if mutated is None:
            stale.append(f"{mutant.module}: catalogue mutant {mutant.name!r} no longer matches the code")
        else:
            runnable.append((mutant, mutated))

    free: queue.Queue[Path] = queue.Queue()
    for tree in trees:
        free.put(tree)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    base = [sys.executable, "-m", "pytest", "-x", "-q", *mutmut_config().get("pytest_add_cli_args", [])]
    pytest = [*base, UNIT_TESTS]
    focus = {m.module: focused_tests(trees[0], m.module) for m, _ in runnable}

    def check(item: tuple[HandMutant, str]) -> Outcome:
        mutant, mutated = item
        tree = free.get()
        target = tree / mutant.module
        original = target.read_text()
        status = "survived"
        try:
            target.write_text(mutated)
            # The module's own test files first (most mutants die there, in a second); the whole
            # unit suite for any mutant they let live.
            for tests in ([*base, *focus[mutant.module]], pytest) if focus[mutant.module] else (pytest,):
                proc = subprocess.run(
                    tests, cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False
                )
                # 1: a test failed; 2-4: the mutant broke collection or pytest itself. Either way,
                # caught. 5: nothing collected, so nothing said.
                if proc.returncode not in (0, 5):
                    status = "killed"
                    break
        except subprocess.TimeoutExpired:
            status = "timeout"
        finally:
            target.write_text(original)
            free.put(tree)
        diff = "\n".join(
            "\n".join([*(f"-{line}" for line in find.splitlines()), *(f"+{line}" for line in replace.splitlines())])
            for find, replace in mutant.edits
        )
        return Outcome("catalogue", mutant.name, status, diff)

    # The copies must import their own authgate/, not the tree's (the editable install points there).
    probe = subprocess.run(
        [sys.executable, "-c", "import authgate; print(authgate.__file__)"],
        cwd=trees[0],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not probe.startswith(str(trees[0])):
        sys.exit(f"mutation: a copy of the tree imports authgate from {probe}, not from its own copy")
    # A failing suite would "kill" every mutant: it must pass unmutated first.
    clean = subprocess.run(pytest, cwd=trees[0], env=env, capture_output=True, text=True, check=False)
    if clean.returncode != 0:
        sys.exit(f"mutation: the unit tests fail without any mutant:\n{clean.stdout[-4000:]}")

    result: dict[str, list[Outcome]] = {m: [] for m in modules}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(trees)) as pool:
        for (mutant, _), outcome in zip(runnable, pool.map(check, runnable), strict=True):
            result[mutant.module].append(outcome)
    return result, stale


def mark_equivalents(results: list[ModuleResult]) -> list[str]:
    """Mark survivors listed in ``EQUIVALENT``; the entries (of these modules) that matched none."""
    used: set[Equivalent] = set()
    for res in results:
        for o in res.outcomes:
            if o.source != "mutmut" or is_killed(o.status):
                continue
            before, after = changed_lines(o.diff)
            for eq in EQUIVALENT:
                if eq.module == res.module and eq.before == before and eq.after == after:
                    o.equivalent = eq
                    used.add(eq)
                    break
    modules = {r.module for r in results}
    return [
        f"{eq.module}: equivalent mutant {eq.before!r} -> {eq.after!r} no longer survives or exists"
        for eq in EQUIVALENT
        if eq.module in modules and eq not in used
    ]


def score(killed: int, total: int) -> str:
    return f"{100.0 * killed / total:.1f}%" if total else "-"


def report(results: list[ModuleResult], stale: list[str], min_score: float, elapsed: float) -> int:
    print()
    header = (
        f"{'module':<20} {'mutmut':>13} {'catalogue':>11} {'equivalent':>10} {'killed':>7} {'survived':>8} {'score':>7}"
    )
    print(header)
    print("-" * len(header))
    total_killed = total = 0
    failing = []
    for r in results:
        mk, mn = r.count(source="mutmut", killed=True), r.count(source="mutmut")
        ck, cn = r.count(source="catalogue", killed=True), r.count(source="catalogue")
        eq = r.count(equivalent=True)
        killed, n = mk + ck, mn + cn
        total_killed += killed
        total += n
        rate = 100.0 * killed / n if n else 100.0
        if rate < min_score:
            failing.append(r.module)
        tool, hand = f"{mk}/{mn}", f"{ck}/{cn}"
        print(f"{r.module:<20} {tool:>13} {hand:>11} {eq:>10} {killed:>7} {n - killed:>8} {score(killed, n):>7}")
    print()
    survivors = [(r.module, o) for r in results for o in r.outcomes if o.equivalent is None and not is_killed(o.status)]
    if survivors:
        print(f"Survivors ({len(survivors)}):")
        for module, o in survivors:
            print(f"\n  {module} [{o.source}] {o.name}: {o.status}")
            body = [line for line in o.diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
            for line in body:
                print(f"      {line}")
        print()
    for line in stale:
        print(f"STALE: {line}")
    equivalents = sum(r.count(equivalent=True) for r in results)
    print(f"{equivalents} equivalent mutants left out of the score (docs/testing.md); {elapsed:.0f} s")
    if failing:
        print(f"under {min_score:g}%: {', '.join(failing)}")
    print(f"mutation score: {total_killed}/{total} killed ({score(total_killed, total)})")
    return 1 if failing or stale else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules of [tool.mutmut] only_mutate (path or stem)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel test runs")
    parser.add_argument("--min-score", type=float, default=95.0, help="lowest score a module may have (percent)")
    parser.add_argument("--changed-since", metavar="REF", help="only the modules that differ from this git ref")
    parser.add_argument("--no-catalogue", action="store_true", help="mutmut's mutants only")
    parser.add_argument("--list-equivalents", action="store_true", help="print EQUIVALENT as a Markdown table")
    args = parser.parse_args()
    if args.list_equivalents:
        print(table(), end="")
        return 0

    modules = select_modules(args)
    start = time.monotonic()
    if WORK.exists():
        shutil.rmtree(WORK)
    # One snapshot of the tree, taken before anything runs: mutmut's and each catalogue worker's.
    tool = WORK / "tool"
    snapshot(tool)
    write_config(tool, modules)
    hand_trees = []
    if not args.no_catalogue:
        for i in range(args.jobs):
            hand_trees.append(WORK / f"hand-{i}")
            shutil.copytree(tool, hand_trees[-1])
    print(f"mutation: {len(modules)} modules, {args.jobs} jobs, work dir {WORK.relative_to(ROOT)}/", flush=True)
    run_mutmut(tool, args.jobs)
    print(f"mutation: mutmut done in {time.monotonic() - start:.0f} s", flush=True)
    by_module = mutmut_outcomes(tool, modules)
    stale: list[str] = []
    if not args.no_catalogue:
        hand, stale = run_catalogue(hand_trees, modules)
        for module, outcomes in hand.items():
            by_module[module] += outcomes
    results = [ModuleResult(m, by_module[m]) for m in modules]
    stale += mark_equivalents(results)
    return report(results, stale, args.min_score, time.monotonic() - start)


if __name__ == "__main__":
    sys.exit(main())
