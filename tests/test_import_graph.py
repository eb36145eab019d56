"""No import circles in cnnlib/ and app/, and every module imports on its own in a fresh interpreter.

The graph counts every import the code can run, at the top of a module or inside a
function (a lazy import still makes a circle: whichever side loads first sees the other
half-initialised). Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cnnlib", "app")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, module: str, known: set[str], is_package: bool) -> set[str]:
    """Our modules that ``tree`` imports at run time (``from pkg import mod`` counts as ``pkg.mod``)."""
    found: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
        pending.extend(ast.iter_child_nodes(node))
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: _imported(ast.parse(path.read_text()), name, known, path.name == "__init__.py")
        for name, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
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


def test_the_checker_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    graph = import_graph()
    assert "cnnlib.batch" in graph["cnnlib.explain.fast"]  # the graph sees lazy imports too
    assert "cnnlib.models.architectures" in graph["cnnlib.models.factory"]
    assert circles(graph) == []


@pytest.mark.slow
@pytest.mark.extended  # test_no_import_circles checks the same graph statically, in the default tier
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    from concurrent.futures import ThreadPoolExecutor

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}  # the editable install, as users import it

    def failure(name: str) -> str | None:
        result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=300)
        return f"{name}: {result.stderr.strip().splitlines()[-1]}" if result.returncode != 0 else None

    # One interpreter per module, as many at once as there are cores: each mostly waits on imports.
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        failures = [line for line in pool.map(failure, _modules()) if line]
    assert failures == []
