"""A copy of the tree with the auth check's modules compiled by mypyc (setup.py), for the tests
and the benchmark to run against what the container image ships.

    python -m tools.compiled            # build (or reuse) build/compiled/, print its path

The copy holds ``authgate/`` with the C extensions beside the ``.py`` files; a process started
with the copy as its working directory (``python -m authgate``) imports them. It is rebuilt only
when the source changed (a hash of every file it is built from), so ``make test`` pays for mypyc
once per change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "compiled"
_SOURCES = ("setup.py", "pyproject.toml", "README.md")


def _digest() -> str:
    h = hashlib.sha256()
    paths = [ROOT / name for name in _SOURCES] + sorted((ROOT / "authgate").rglob("*.py"))
    for path in paths:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def build() -> Path:
    """The compiled copy, built if the source changed since it was last built."""
    digest = _digest()
    stamp = BUILD / "source.sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return BUILD
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir(parents=True)
    shutil.copytree(ROOT / "authgate", BUILD / "authgate", ignore=shutil.ignore_patterns("__pycache__"))
    for name in _SOURCES:
        shutil.copy2(ROOT / name, BUILD / name)
    subprocess.run(
        [sys.executable, "setup.py", "--quiet", "build_ext", "--inplace"],
        cwd=BUILD,
        env={**os.environ, "AUTHGATE_COMPILE": "1"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(digest)
    return BUILD


if __name__ == "__main__":
    print(build())
