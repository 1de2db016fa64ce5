"""The layout facts of issue 22: no import cycle among the project's modules (counting every
import), no module over 500 lines, a short README, and an `ask` that stays light."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import REPO

PACKAGES = ("index", "bot")
MAX_MODULE_LINES = 500
MAX_README_LINES = 200
HEAVY = ("httpx", "discord", "torch", "trafilatura", "feedparser")

Graph = dict[str, dict[str, int]]  # importer -> {imported: first line}


# --- the import graph, from the source ----------------------------------------------------------


def project_modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its __init__)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _deepest_module(name: str, modules: dict[str, Path]) -> str | None:
    """``import a.b.c`` imports the module a.b.c (or the deepest of its prefixes that is one)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(module: str, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(project module, line) for every import statement anywhere in the module's file: top
    level, inside functions and under TYPE_CHECKING alike. ``from p import x`` imports the
    submodule p.x where there is one, else p (x is a name p defines)."""
    path = modules[module]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [_deepest_module(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            targets = [
                f"{base}.{a.name}"
                if f"{base}.{a.name}" in modules
                else _deepest_module(base, modules)
                for a in node.names
            ]
        else:
            continue
        yield from ((target, node.lineno) for target in targets if target)


def import_graph(modules: dict[str, Path]) -> Graph:
    """The project's modules and, for each, the project modules it imports (at which line)."""
    graph: Graph = {name: {} for name in modules}
    for name in modules:
        for target, line in imported_modules(name, modules):
            graph[name].setdefault(target, line)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                on_stack.discard(member)
                component.append(member)
            on_stack.discard(node)
            components.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def describe(component: list[str], graph: Graph) -> str:
    edges = [
        f"  {a} -> {b} (line {graph[a][b]})" for a in component for b in graph[a] if b in component
    ]
    return "\n".join([" + ".join(component), *edges])


# --- the facts -----------------------------------------------------------------------------------


KNOT = {
    "pkg/__init__.py": "from . import a\n",
    "pkg/a.py": "def f():\n    from .sub import b\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n",
    "pkg/c.py": "import pkg.a\nfrom pkg import VALUE\n",
    "pkg/d.py": "from .d import x\n",
}


def test_the_checker_sees_function_level_type_checking_and_relative_imports(
    tmp_path: Path,
) -> None:
    for name, text in KNOT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(project_modules(tmp_path, ("pkg",)))
    assert graph == {
        "pkg": {"pkg.a": 1},
        "pkg.a": {"pkg.sub.b": 2},
        "pkg.sub": {},
        "pkg.sub.b": {"pkg.c": 3},
        "pkg.c": {"pkg.a": 1, "pkg": 2},
        "pkg.d": {"pkg.d": 1},
    }
    components = strongly_connected(graph)
    assert ["pkg", "pkg.a", "pkg.c", "pkg.sub.b"] in components
    assert ["pkg.d"] in components and ["pkg.sub"] in components


def test_no_import_cycles_among_index_and_bot_modules() -> None:
    graph = import_graph(project_modules())
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    self_imports = sorted(name for name, targets in graph.items() if name in targets)
    assert not cycles, "import cycles:\n" + "\n".join(describe(c, graph) for c in cycles)
    assert not self_imports, f"modules importing themselves: {self_imports}"


def test_no_module_over_500_lines() -> None:
    lines = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in project_modules().values()
    }
    too_long = {path: n for path, n in sorted(lines.items()) if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_readme_is_at_most_200_lines() -> None:
    lines = len((REPO / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, f"README.md is {lines} lines"


# --- `articlebot ask` stays light ----------------------------------------------------------------

ASK = """
import json, sys
from index.cli import main
code = main(["ask", sys.argv[1]])
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.argv[2:] if m in sys.modules)}))
"""


@pytest.mark.slow
def test_ask_imports_no_web_bot_or_torch_library(corpus_index: Path) -> None:
    """The real CLI and model on the bundled corpus, as a user asks: the modules loaded in a
    fresh interpreter are listed once the answer is printed."""
    question = "Who is trying to mend relations between Turkey and Israel?"
    asked = subprocess.run(
        [sys.executable, "-c", ASK, question, *HEAVY],
        cwd=corpus_index,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "ARTICLEBOT_INDEX_DIR": str(corpus_index / "idx"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert asked.returncode == 0, asked.stderr
    *answer, last = asked.stdout.strip().splitlines()
    result = json.loads(last)
    assert result["code"] == 0 and "Aliyev" in "\n".join(answer), asked.stdout
    assert result["loaded"] == [], f"`articlebot ask` imported {result['loaded']}"
