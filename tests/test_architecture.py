"""The layer contract, over the import graph of src/cs_analysis (every import, at module level or
inside a function):

    errors < i18n < config < data < core < health < kpis < model < report < cli

A module imports only from its own layer or the layers below it; the import graph has no cycle;
an import inside a function (a lazy import) is only for a module that pulls in a heavy or
optional dependency (scikit-learn, skops, Ibis, Spark, papermill/nbconvert, matplotlib), never to hide a
cycle or a wrong-way import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cs_analysis"
LAYERS = ["errors", "i18n", "config", "data", "core", "health", "kpis", "model", "report", "cli"]
HEAVY = ("sklearn", "scipy", "skops", "ibis", "pyspark", "papermill", "nbconvert", "nbclient", "jupyter_client", "matplotlib",
         "IPython")


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return len(LAYERS) if len(parts) == 1 else LAYERS.index(parts[1])  # the package itself: the top


def _imports(path: Path, typing: bool = False) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function?, line) of every import in the file that runs (with
    ``typing``, also those under ``if TYPE_CHECKING:``, which only type checkers read)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if not typing and isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((a.name, inner, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                # "from package import module" imports the module (and runs the package's __init__,
                # which only re-exports from below); "from module import name" imports the module
                submodules = [f"{child.module}.{a.name}" for a in child.names
                              if (SRC.parent / f"{child.module}.{a.name}".replace(".", "/")).with_suffix(".py").is_file()
                              or (SRC.parent / f"{child.module}.{a.name}".replace(".", "/") / "__init__.py").is_file()]
                found.extend((m, inner, child.lineno) for m in submodules or [child.module])
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = {_module(p): p for p in sorted(SRC.rglob("*.py"))}


def _project(name: str) -> str | None:
    """The project module an import refers to (``from x import name`` may name a module or not)."""
    return name if name in MODULES else None


def test_every_module_has_a_layer():
    for module in MODULES:
        assert module == "cs_analysis" or module.split(".")[1] in LAYERS, f"{module}: not in a layer"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str):
    for name, _, line in _imports(MODULES[module], typing=True):
        target = _project(name)
        if target is not None and target != module:
            assert _layer(target) <= _layer(module), (
                f"{module} (line {line}) imports {target}: a layer above it ({LAYERS[min(_layer(module), 9)]} < "
                f"{LAYERS[min(_layer(target), 9)]})")


def _heavy_modules() -> set[str]:
    """Project modules that import a heavy dependency at module level, directly or through others."""
    heavy = {m for m, p in MODULES.items()
             if any(n.split(".")[0] in HEAVY for n, lazy, _ in _imports(p) if not lazy)}
    changed = True
    while changed:
        changed = False
        for m, p in MODULES.items():
            if m not in heavy and any(_project(n) in heavy for n, lazy, _ in _imports(p) if not lazy):
                heavy.add(m)
                changed = True
    return heavy


def test_lazy_imports_are_only_for_heavy_dependencies():
    heavy = _heavy_modules()
    for module, path in MODULES.items():
        for name, lazy, line in _imports(path):
            target = _project(name)
            if lazy and target is not None:
                assert target in heavy, f"{module} (line {line}) imports {target} inside a function: not heavy"


def test_no_import_cycles():
    graph = {m: {t for n, _, _ in _imports(p) if (t := _project(n)) and t != m} for m, p in MODULES.items()}
    # a package's __init__ re-exporting its modules is not a cycle with them
    graph = {m: {t for t in ts if not (m.startswith(t + ".") and t in MODULES and MODULES[t].name == "__init__.py")}
             for m, ts in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(t):], t]))
            if t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
