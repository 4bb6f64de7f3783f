"""Import circles among the modules of a Python source folder (python-steps/ by default).

The Python side's counterpart of dependency-cruiser's no-circular rule (tests/python-imports.test.ts
runs it). Every import statement counts wherever it stands -- in a function, under
`if TYPE_CHECKING:` -- since a function-local import only moves a circle to run time rather than
removing it. Importing `pkg.mod` counts as importing `pkg` too: Python runs pkg/__init__.py first.

    python scripts/python-import-cycles.py [FOLDER]

prints a JSON list of circles, each a list of edges {"from", "to", "at": "file:line"} that closes
on itself, and exits 1 when there is one. Standard library only.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path


def module_name(root: Path, file: Path) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def local_modules(root: Path) -> dict[str, Path]:
    return {module_name(root, f): f for f in sorted(root.rglob("*.py")) if "__pycache__" not in f.parts}


def imported(mod: str, file: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    """The local modules an import statement names: a submodule, or the package an attribute is read from."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        package = mod.split(".") if file.name == "__init__.py" else mod.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]


def edges(root: Path) -> dict[str, list[tuple[str, str]]]:
    """module -> [(imported local module, "file:line")].

    Importing `pkg.mod` runs pkg/__init__.py first, so pkg counts too -- except where pkg is a
    package the importing module belongs to: that one is already being imported (a sibling import
    inside a package is no circle), unless the statement names it itself (`from pkg import x`).
    """
    modules = local_modules(root)
    graph: dict[str, list[tuple[str, str]]] = {m: [] for m in modules}
    for mod, file in modules.items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            at = f"{file.relative_to(root)}:{node.lineno}"
            for name in imported(mod, file, node, modules):
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    target = ".".join(parts[:i])
                    own_package = mod.startswith(target + ".") and target != name
                    if target in modules and target != mod and not own_package and (target, at) not in graph[mod]:
                        graph[mod].append((target, at))
    return graph


def circles(graph: dict[str, list[tuple[str, str]]]) -> list[list[dict[str, str]]]:
    """One circle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [path_through(graph, c) for c in components]


def path_through(graph: dict[str, list[tuple[str, str]]], component: list[str]) -> list[dict[str, str]]:
    """A shortest circle from the component's first module back to itself, as edges (BFS)."""
    start, inside = component[0], set(component)
    came: dict[str, tuple[str, str]] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w, at in graph[v]:
            if w not in inside:
                continue
            if w == start:
                path = [{"from": v, "to": w, "at": at}]
                while v != start:
                    prev, prev_at = came[v]
                    path.insert(0, {"from": prev, "to": v, "at": prev_at})
                    v = prev
                return path
            if w not in came:
                came[w] = (v, at)
                queue.append(w)
    raise AssertionError("a strongly connected component has a circle")


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "python-steps").resolve()
    found = circles(edges(root))
    print(json.dumps(found, indent=1))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
