"""No import cycle among poslib's modules, imports inside functions included.

The graph is read from the source with :mod:`ast` (nothing is imported): every ``import``
and ``from ... import`` statement anywhere in a module (top level, functions, classes,
``try`` blocks), absolute (``poslib.x``) or relative at any level. Importing ``a.b.c``
also runs the packages ``a.b`` and ``a`` first, so an edge to a submodule adds edges to its
packages, except the importer's own packages (already being imported when it runs).

Run as a script to print the graph's cycles: ``python tests/test_import_graph.py``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "poslib"

#: Imports allowed to close a cycle, ``(importer, imported): reason``. Empty: none is needed.
ALLOWED_EDGES: dict[tuple[str, str], str] = {}


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted name of every module of the package in ``package_dir`` -> its file."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """Modules of ``known`` that module ``name`` (file ``path``) imports -> first line doing so."""
    is_package = path.name == "__init__.py"
    targets: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        own = set(_ancestors(name)) | ({name} if is_package else set())
        for candidate in [*_ancestors(target), target]:
            if candidate in known and candidate != name and candidate not in own:
                targets.setdefault(candidate, line)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in known else base, node.lineno)
    return targets


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` over the package's modules."""
    names = module_names(package_dir)
    return {name: imported_modules(name, path, set(names)) for name, path in names.items()}


def cycles(graph: dict[str, dict[str, int]], allowed=()) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), edges in ``allowed`` left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if (node, target) in allowed:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """The imports inside one cycle, ``importer:line -> imported``."""
    members = set(component)
    return "; ".join(f"{a}:{line} -> {b}" for a in component for b, line in sorted(graph[a].items())
                     if b in members)


def test_poslib_has_no_import_cycle():
    graph = import_graph()
    found = cycles(graph, set(ALLOWED_EDGES))
    assert not found, "import cycles: " + " | ".join(describe(graph, c) for c in found)


def test_allowed_edges_still_exist():
    graph = import_graph()
    stale = [edge for edge in ALLOWED_EDGES if edge[1] not in graph.get(edge[0], {})]
    assert not stale, f"allowed imports that no longer exist: {stale}"


def test_the_graph_sees_relative_function_level_and_package_imports():
    graph = import_graph()
    assert "poslib.readout" in graph["poslib.probing"]  # from .readout import ...
    assert "poslib.bench" in graph["poslib.runner"]  # inside main()
    assert "poslib.config" in graph["poslib.experiments.layerwise"]  # from ..config import ...


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub.b import thing\n")
    (package / "sub" / "__init__.py").write_text("from . import b\n")
    (package / "sub" / "b.py").write_text("def thing():\n    from .. import a\n    return a\n")
    (package / "c.py").write_text("import pkg.a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub": 1, "pkg.sub.b": 1}
    assert graph["pkg.c"] == {"pkg.a": 1}
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.b"]]
    assert cycles(graph, {("pkg.sub.b", "pkg.a")}) == []


if __name__ == "__main__":
    graph = import_graph()
    found = cycles(graph)
    for component in found:
        print("cycle:", describe(graph, component))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} cycles")
    sys.exit(1 if found else 0)
