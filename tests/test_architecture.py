"""The package's layers point one way and its modules import no cycle (deferred imports inside functions included).

``nn → models → train → runs → tasks → recipes → tune → (estimators | serve) → cli``, with ``data`` and ``chem``
below ``train`` and ``report`` just below ``tasks`` (tasks draw their figures with it). The imports are read with
``ast`` from the source, so an import inside a function counts; only a ``TYPE_CHECKING`` import (for a type hint)
does not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "neuralab"

#: Each top-level module or subpackage's layer. A module may import its own package and the layers below its own.
LAYERS = {
    "neuralab": 0, "errors": 0, "directions": 0, "i18n": 1,
    "nn": 1,
    "models": 2, "data": 2,
    "chem": 3,
    "train": 4,
    "runs": 5,
    "report": 6,
    "tasks": 7, "experiments": 7,
    "recipes": 8,
    "tune": 9,
    "estimators": 10, "serve": 10,
    "cli": 11,  # the command line starts everything, the server included
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """The ids of every node inside an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The neuralab modules ``name`` imports, anywhere in the file except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "neuralab")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            if base.split(".")[0] != "neuralab":
                continue
            # `from neuralab.x import y` imports the module neuralab.x.y when there is one, else neuralab.x
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> tuple[str, int]:
    top = module.split(".")[1] if "." in module else "neuralab"
    if top not in LAYERS:
        pytest.fail(f"{module}: the package {top!r} has no layer in tests/test_architecture.py LAYERS; add it")
    return top, LAYERS[top]


def test_every_import_points_down_the_layers():
    wrong = []
    for module, imported in sorted(_graph().items()):
        top, rank = _layer(module)
        for other in sorted(imported):
            other_top, other_rank = _layer(other)
            if other_top != top and other_rank >= rank:
                wrong.append(f"{module} (layer {rank}) imports {other} (layer {other_rank})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_no_module_is_part_of_an_import_cycle():
    graph = _graph()
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_the_checker_sees_a_cycle_and_an_upward_import():
    assert {frozenset(c) for c in _strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()})} == \
        {frozenset({"a", "b"}), frozenset({"c"})}
    modules = {"neuralab.train.engine": Path("x"), "neuralab.tasks": Path("y")}
    tree_text = "def f():\n    from neuralab.tasks import TASKS\n"
    path = SRC / "_probe.py"
    try:
        path.write_text(tree_text)
        assert _imports("neuralab.train.engine", path, modules) == {"neuralab.tasks"}
    finally:
        path.unlink()
