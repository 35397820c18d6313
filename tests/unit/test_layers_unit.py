"""The house rules of docs/architecture.md, checked on the source: imports point down, no cycles,
each library imported only where it belongs, no module grown past ~300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PURE = [
    "policy",
    "paths",
    "forwarded",
    "redirects",
    "headers",
    "cookies",
    "tickets",
    "sealing",
    "lru",
    "session_cache",
    "session_meta",
    "unsealed",
    "refresh_timing",
    "requestid",
    "regexes",
]
IO_LIBRARIES = {"httpx", "redis", "authlib", "joserfc", "asyncio", "socket", "subprocess", "starlette", "uvicorn"}
ONLY_IN = {
    "authlib": "app.oidc",
    "joserfc": "app.oidc",
    "redis": "app.store",
    "hiredis": "app.store",
    "opentelemetry": "app.tracing",
    "re2": "app.regexes",
}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` runs (``if TYPE_CHECKING:`` blocks are left out)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
        for child in node.body
        for inner in ast.walk(child)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = {module_name(p): runtime_imports(p) for p in APP.rglob("*.py")}


def app_imports(module: str) -> set[str]:
    """The app modules ``module`` imports (a package import counts as its __init__)."""
    return {m for m in MODULES[module] if m in MODULES and m != module}


def test_no_import_cycles() -> None:
    seen: dict[str, str] = {}  # module -> "active" | "done"

    def visit(module: str, stack: list[str]) -> None:
        seen[module] = "active"
        for dep in app_imports(module):
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
    imports = MODULES[f"app.{name}"]
    assert not {m.split(".")[0] for m in imports} & IO_LIBRARIES, imports
    services = {"app.sessions", "app.login", "app.wiring", "app.store", "app.oidc", "app.web"}
    assert not {m for m in imports if any(m == s or m.startswith(s + ".") for s in services)}, imports


def test_libraries_are_imported_only_where_they_belong() -> None:
    for module, imports in MODULES.items():
        for library, home in ONLY_IN.items():
            if any(m == library or m.startswith(library + ".") for m in imports):
                assert module == home or module.startswith(home + "."), f"{module} imports {library}"


def test_nothing_below_the_web_layer_imports_it() -> None:
    for module, imports in MODULES.items():
        if module.startswith(("app.web", "app.demo")) or module in ("app.cli", "app.check", "app.__main__"):
            continue
        assert not {m for m in imports if m.startswith("app.web")}, f"{module} imports the web layer"


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=lambda p: str(p.relative_to(APP)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES, "past ~300 lines a module probably holds two ideas"
