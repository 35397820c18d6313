"""The house rules of docs/architecture.md, checked on the source: each folder is a layer, imports
point down the layers (``TYPE_CHECKING`` imports count too), no cycles, each library imported only
where it belongs, no module grown past ~300 lines, and the architecture document lists every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "authgate"
#: The layers, lowest first. A module may import its own package and anything in a lower layer;
#: packages that share a layer (store, oidc) are independent and never import each other.
LAYERS: list[tuple[str, ...]] = [
    ("authgate", "authgate.errors", "authgate.model", "authgate.lru", "authgate.regexes"),  # base
    ("authgate.config",),
    ("authgate.observability",),
    ("authgate.store", "authgate.oidc"),
    ("authgate.access",),
    ("authgate.session",),
    ("authgate.outpost",),
    ("authgate.wiring",),
    ("authgate.web",),
    ("authgate.demo",),
    ("authgate.cli",),
    ("authgate.__main__",),
]
#: Pure logic: no I/O library, no service. Tested without servers (tests/unit).
PURE = [
    "authgate.regexes",
    "authgate.model",
    "authgate.lru",
    "authgate.access.policy",
    "authgate.access.verdicts",
    "authgate.access.paths",
    "authgate.access.forwarded",
    "authgate.access.redirects",
    "authgate.access.request",
    "authgate.access.identity_headers",
    "authgate.access.upstream",
    "authgate.session.cookies",
    "authgate.session.tickets",
    "authgate.session.sealing",
    "authgate.session.cache",
    "authgate.session.meta",
    "authgate.session.unsealed",
    "authgate.session.timing",
    "authgate.observability.requestid",
    "authgate.store.keys",
    "authgate.oidc.logout_tokens",
    "authgate.access.return_to",
    "authgate.access.refusals",
    "authgate.outpost.providers",
]
IO_LIBRARIES = {"httpx", "redis", "authlib", "joserfc", "asyncio", "socket", "subprocess", "starlette", "uvicorn"}
SERVICES = ("authgate.store", "authgate.oidc", "authgate.wiring", "authgate.web", "authgate.session.service")
ONLY_IN = {
    "authlib": "authgate.oidc",
    "joserfc": "authgate.oidc",
    "redis": "authgate.store",
    "hiredis": "authgate.store",
    "opentelemetry": "authgate.observability.tracing",
    "re2": "authgate.regexes",
    "websockets": "authgate.outpost.follower",
}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at run time or for type checking alone: ``from authgate.x
    import y`` counts as ``authgate.x.y`` when that is a module, else as ``authgate.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


MODULES = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def package_imports(module: str) -> set[str]:
    """The modules of the package ``module`` imports (a package import counts as its __init__)."""
    return {m for m in MODULES[module] if m in MODULES and m != module}


def layer_of(module: str) -> tuple[int, str]:
    """(rank, the layer's entry that holds ``module``): the longest matching entry wins."""
    best: tuple[int, str] | None = None
    for rank, entries in enumerate(LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and (best is None or len(entry) > len(best[1])):
                best = (rank, entry)
    assert best is not None, f"{module} is in no layer of LAYERS (tests/unit/test_layers.py)"
    return best


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str) -> None:
    rank, home = layer_of(module)
    for dep in package_imports(module):
        dep_rank, dep_home = layer_of(dep)
        if dep_home == home or dep_rank == rank == 0:
            continue  # within its own package (the base modules are the package authgate itself)
        assert dep_rank < rank, (
            f"{module} (layer {rank}, {home}) imports {dep} (layer {dep_rank}, {dep_home}): imports point down only"
        )


def test_no_import_cycles() -> None:
    seen: dict[str, str] = {}  # module -> "active" | "done"

    def visit(module: str, stack: list[str]) -> None:
        seen[module] = "active"
        for dep in package_imports(module):
            if seen.get(dep) == "active":
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(dep) :], dep]))
            if dep not in seen:
                visit(dep, [*stack, dep])
        seen[module] = "done"

    for module in MODULES:
        if module not in seen:
            visit(module, [module])


@pytest.mark.parametrize("name", PURE)
def test_pure_logic_imports_no_io_library_and_no_service(name: str) -> None:
    imports = MODULES[name]
    assert not {m.split(".")[0] for m in imports} & IO_LIBRARIES, imports
    assert not {m for m in imports if any(m == s or m.startswith(s + ".") for s in SERVICES)}, imports


def test_libraries_are_imported_only_where_they_belong() -> None:
    for module, imports in MODULES.items():
        for library, home in ONLY_IN.items():
            if any(m == library or m.startswith(library + ".") for m in imports):
                assert module == home or module.startswith(home + "."), f"{module} imports {library}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES, "past ~300 lines a module probably holds two ideas"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_says_what_it_owns(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(ROOT)}: a docstring saying what it owns"


def test_the_architecture_document_lists_every_module() -> None:
    """docs/architecture.md's tree names every module under its folder, and nothing that is gone."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    tree = text.split("```", 2)[1]
    listed: set[str] = set()
    folder = ""
    for line in tree.splitlines():
        match = re.match(r"\s*(\w+)/\s+(.*)", line)
        if match:
            folder, names = match.group(1), match.group(2)
        elif line.strip().startswith(("│", "authgate")) or not line.strip():
            continue
        else:
            names = line
        for name in re.findall(r"\b([a-z_0-9]+)\.py\b", names):
            listed.add(f"authgate.{folder}.{name}" if folder and folder != "authgate" else f"authgate.{name}")
    actual = {m for m in MODULES if not m.endswith("__main__") and m.count(".") >= 1 and m.rsplit(".", 1)[1] != ""}
    actual = {m for m in actual if (PACKAGE / Path(*m.split(".")[1:])).with_suffix(".py").exists()}
    assert listed == actual, f"missing from the document: {sorted(actual - listed)}; gone: {sorted(listed - actual)}"
