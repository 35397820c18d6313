"""The locks (requirements/*.txt, made by ``make lock``) pin everything pyproject.toml asks for.

scripts/bootstrap and the Dockerfile install only from them (``--require-hashes --no-deps``), so a
dependency added to pyproject.toml without ``make lock`` would be missing on a fresh machine while
a developer's older venv still has it. These checks say so at once, in words.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Each lock and the extras it is made with (Makefile, target `lock`).
EXTRAS = {"runtime": [], "runtime-otel": ["otel"], "demo": ["demo"], "dev": ["dev"], "compile": ["compile"]}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


def pins(lock: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall((LOCKS / f"{lock}.txt").read_text())}


def wanted(extras: list[str]) -> list[Requirement]:
    """The requirements of these extras, following the self-references (``authgate[demo]``)."""
    out = [Requirement(r) for r in PROJECT["dependencies"]]
    todo = list(extras)
    while todo:
        for text in PROJECT["optional-dependencies"][todo.pop()]:
            req = Requirement(text)
            if canonicalize_name(req.name) == PROJECT["name"]:
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


@pytest.mark.parametrize("lock", sorted(EXTRAS))
def test_every_requirement_is_pinned_within_its_range(lock: str) -> None:
    locked = pins(lock)
    for req in wanted(EXTRAS[lock]) + [Requirement(line) for line in ["pip", "setuptools>=77"]]:
        version = locked.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not in requirements/{lock}.txt: run `make lock`"
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements/{lock}.txt pins {req.name}=={version}, outside {req}: run `make lock`"
        )


@pytest.mark.parametrize("lock", sorted(EXTRAS))
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (LOCKS / f"{lock}.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        if PIN.match(entry):
            assert "--hash=sha256:" in entry, f"requirements/{lock}.txt: {entry.splitlines()[0]} has no hash"


def test_the_locks_are_the_ones_the_makefile_makes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    made = set(re.findall(r"-o requirements/([\w-]+)\.txt", makefile))
    assert made == set(EXTRAS), made
    assert {p.stem for p in LOCKS.glob("*.txt")} == set(EXTRAS)
