"""The docs must not drift from the code: docs/configuration.md is generated from app/config/
(tools/docs_gen.py); every header list a doc gives is the one the code emits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.config import SECRET_FIELDS, AppRule, Settings
from app.headers import REWRITTEN_REQUEST_HEADERS, managed_headers
from tools import docs_gen


def test_configuration_reference_is_up_to_date() -> None:
    current = docs_gen.OUTPUT.read_text() if docs_gen.OUTPUT.exists() else ""
    assert current == docs_gen.render(), (
        "docs/configuration.md differs from the Settings class: run `python -m tools.docs_gen --write`"
    )


def test_every_setting_and_secret_file_is_documented() -> None:
    text = docs_gen.render()
    for name, field in Settings.model_fields.items():
        if field.exclude:
            assert f"`AUTHGATE_{name.upper()}`" not in text, name
            continue
        assert f"| `AUTHGATE_{name.upper()}` |" in text, name
    for name in SECRET_FIELDS:
        assert f"| `AUTHGATE_{name.upper()}_FILE` |" in text, name
    for name in AppRule.model_fields:
        assert f"| `{name}` |" in text, name


# --- the header lists the docs give, against the ones the code emits ------------------------------

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICKSTARTS = sorted((ROOT / "docs").glob("quickstart-*.md"))
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
# The lists the docs spell out: a Traefik list in brackets or in lines, Caddy's copy_headers, the
# ingress-nginx annotation.
BRACKETS = re.compile(r"authResponseHeaders:\s*\[([^\]]*)\]")
LINES = re.compile(r"authResponseHeaders:\s*\n((?:[ \t]*(?:#.*|- \S+)\n)+)")
COPY_HEADERS = re.compile(r"^\s*copy_headers\s+([\w\- ]+)$", re.M)
ANNOTATION = re.compile(r"auth-response-headers:\s*\"?([\w\-, ]+\w)")
# How the prose counts them: "the twelve `X-authentik-*` names, the four `X-Auth-Request-*` ones, ..."
COUNTED = re.compile(r"the (\w+) `X-authentik-\*` names, the (\w+) `X-Auth-Request-\*` ones,? (.{0,60})")


def written_lists(text: str) -> list[list[str]]:
    found = [[n.strip() for n in m.split(",") if n.strip()] for m in BRACKETS.findall(text)]
    found += [re.findall(r"- (\S+)", m) for m in LINES.findall(text)]
    found += [m.split() for m in COPY_HEADERS.findall(text)]
    found += [[n.strip() for n in m.split(",")] for m in ANNOTATION.findall(text)]
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_header_list_in_the_docs_is_the_one_the_code_emits(path: Path) -> None:
    for names in written_lists(path.read_text()):
        assert names == managed_headers(), f"{path.name}: {names}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_header_count_in_the_docs_is_the_codes(path: Path) -> None:
    """The quickstarts say how many names the recipe lists ("the twelve `X-authentik-*` names"):
    the numbers and the rewritten headers named after them are the code's."""
    names = managed_headers()
    authentik = sum(n.startswith("X-authentik-") for n in names)
    oauth2 = sum(n.startswith("X-Auth-Request-") for n in names)
    rest = " and ".join(f"`{n}`" for n in REWRITTEN_REQUEST_HEADERS)
    text = " ".join(path.read_text().split())
    for said_authentik, said_oauth2, after in COUNTED.findall(text):
        assert (said_authentik, said_oauth2) == (NUMBERS[authentik], NUMBERS[oauth2]), f"{path.name}: {after}"
        assert after.replace(", ", " and ").startswith(rest), f"{path.name}: after the counts: {after!r}"


@pytest.mark.parametrize("path", QUICKSTARTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_quickstart_names_the_rewritten_headers(path: Path) -> None:
    text = path.read_text()
    for name in REWRITTEN_REQUEST_HEADERS:
        assert f"`{name}`" in text, f"{path.name} never names {name}, which its recipe must take from authgate"


def test_the_header_list_checks_find_what_they_look_for() -> None:
    """The patterns above match the docs as written (a check that finds nothing checks nothing)."""
    found = {str(p.relative_to(ROOT)): len(written_lists(p.read_text())) for p in DOCS}
    assert found["README.md"] >= 1 and found["docs/migrating-from-authentik-outpost.md"] >= 1, found
    counted = [p.name for p in DOCS if COUNTED.search(" ".join(p.read_text().split()))]
    assert {"quickstart-traefik.md", "quickstart-kubernetes.md", "quickstart-caddy.md"} <= set(counted), counted


SOURCE_PATH = re.compile(r"\bapp/[\w/]*\w\.py\b")


@pytest.mark.parametrize(
    "path", [*DOCS, ROOT / "deploy" / "compose" / ".env.example"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_source_file_the_docs_point_to_exists(path: Path) -> None:
    """A module that moved (app/config.py became a package) leaves no pointer behind."""
    missing = sorted({m for m in SOURCE_PATH.findall(path.read_text()) if not (ROOT / m).is_file()})
    assert not missing, f"{path.relative_to(ROOT)} points to {missing}"


def test_every_documented_picture_has_the_hash_of_the_page_it_shows() -> None:
    """docs/img/pages.json (written by `make screenshots`) names every picture a doc shows, and no
    other: tests/e2e/test_browser.py compares each hash with the live page's."""
    shown = {m for p in DOCS for m in re.findall(r"\]\((?:docs/)?img/([\w.-]+\.png)\)", p.read_text())}
    recorded = set(json.loads((ROOT / "docs" / "img" / "pages.json").read_text()))
    assert shown and shown == recorded, f"shown {sorted(shown)}, recorded {sorted(recorded)}"
    assert all((ROOT / "docs" / "img" / name).is_file() for name in shown)
