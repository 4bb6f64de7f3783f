"""flow_runtime has no import circle: its modules' imports of each other (function-local ones
included, which is how a circle used to be dodged) form a graph without a cycle."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "flow_runtime"


def module_name(path: Path, pkg: Path) -> str:
    parts = path.relative_to(pkg.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that `path` (the module `name`) imports, anywhere in its body. A
    `from X import n` needs X itself, unless n is a submodule of X (`from . import quiet`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return {m for m in out if m in modules and m != name}


def graph(pkg: Path = PKG) -> dict[str, set[str]]:
    files = {module_name(p, pkg): p for p in pkg.rglob("*.py")}
    return {name: imports_of(p, name, set(files)) for name, p in files.items()}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the modules along it, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_graph_sees_the_package():
    g = graph()
    assert "flow_runtime.data" in g["flow_runtime"]
    assert "flow_runtime.prompting" in g["flow_runtime.data"]


def test_a_circle_is_found(tmp_path):
    (tmp_path / "flow_runtime").mkdir()
    (tmp_path / "flow_runtime" / "__init__.py").write_text("from .a import x\n")
    (tmp_path / "flow_runtime" / "a.py").write_text("def f():\n    from flow_runtime import y\n")
    assert cycle(graph(tmp_path / "flow_runtime")) == ["flow_runtime", "flow_runtime.a", "flow_runtime"]


def test_flow_runtime_has_no_import_circle():
    assert cycle(graph()) is None
