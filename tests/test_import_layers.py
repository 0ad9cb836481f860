"""The project's import graph: no circles, and no arrow running back up a layer.

Every ``import`` counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): a lazy import hides a circle from the interpreter, not from a reader.
Layers, top to bottom: ``run.py``/``cli`` -> ``workers`` -> ``pipeline`` -> ``config``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.data_paths import REPO_ROOT

PACKAGES = ("cli", "workers", "pipeline", "config")
LAYER = {"cli": 0, "workers": 1, "pipeline": 2, "config": 3}
# inside pipeline: a package may import those below it, never one above
PIPELINE_BELOW = {"pipeline.backends": ("pipeline.models",)}
# the project's exceptions import nothing of the project, so every layer may raise them
LEAVES = {"pipeline.errors"}


def module_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from pkg import sub`` names ``pkg.sub``)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow from a lower layer to a higher one, as ``a -> b``."""
    wrong = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            upward = LAYER[target.split(".")[0]] < LAYER[source.split(".")[0]]
            if upward and target not in LEAVES:
                wrong.append(f"{source} -> {target}")
            for upper, lowers in PIPELINE_BELOW.items():
                if target.startswith(upper + ".") and source.startswith(lowers):
                    wrong.append(f"{source} -> {target}")
    return wrong


def test_the_project_has_no_import_circles() -> None:
    assert cycles(import_graph(module_files())) == []


def test_no_import_runs_back_up_a_layer() -> None:
    graph = import_graph(module_files())
    assert upward_imports(graph) == []
    assert all(not graph[leaf] for leaf in LEAVES)  # a leaf stays one


def test_the_checks_see_a_circle_and_an_upward_import(tmp_path: Path) -> None:
    files = {
        "pipeline/__init__.py": "",
        "pipeline/a.py": "def f():\n    from pipeline import b\n",
        "pipeline/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipeline.a\n",
        "pipeline/c.py": "from workers.w import thing\n",
        "workers/__init__.py": "",
        "workers/w.py": "thing = 1\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    graph = import_graph(module_files(tmp_path))
    assert cycles(graph) == [["pipeline.a", "pipeline.b"]]
    assert upward_imports(graph) == ["pipeline.c -> workers.w"]
