"""The modules of ``tether.functions`` import each other without a circle (issue 26): the base
of the targets imports none of the remote targets, and :mod:`tether.functions.choose` is the one
module that imports them all. Imports inside functions count too: a lazy import is still an edge.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

PACKAGE = "tether.functions"
FOLDER = Path(__file__).resolve().parents[1] / "src" / "tether" / "functions"


def imported_modules(source: str, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``source`` imports anywhere (top level or in a function);
    ``from tether.functions import layout`` counts as importing ``tether.functions.layout``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def import_graph(folder: Path = FOLDER, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    paths = {f"{package}.{p.stem}": p for p in sorted(folder.glob("*.py")) if p.stem != "__init__"}
    modules = set(paths)
    return {name: imported_modules(path.read_text(), modules) - {name}
            for name, path in paths.items()}  # fmt: skip


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (``[a, b, ..., a]``), or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_functions_modules_import_without_a_circle() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.targets" in graph[f"{PACKAGE}.ssh_target"]  # the graph sees real edges
    assert f"{PACKAGE}.ssh_target" in graph[f"{PACKAGE}.choose"]  # lazy ones too
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_base_of_the_targets_imports_no_remote_target() -> None:
    remote = {f"{PACKAGE}.ssh_target", f"{PACKAGE}.slurm_target", f"{PACKAGE}.choose"}
    assert not import_graph()[f"{PACKAGE}.targets"] & remote


@pytest.mark.parametrize(
    ("graph", "circular"),
    [
        ({"a": {"b"}, "b": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}, True),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
        ({}, False),
    ],
)
def test_the_detector_finds_a_circle(graph: dict[str, set[str]], circular: bool) -> None:
    cycle = find_cycle(graph)
    assert (cycle is not None) == circular
    if cycle:
        assert cycle[0] == cycle[-1]
        assert all(b in graph[a] for a, b in itertools.pairwise(cycle))


def test_a_lazy_import_between_two_modules_is_a_circle(tmp_path: Path) -> None:
    """The old shape: the base imported a remote target inside a function, which imports it."""
    base = "class Target: ...\ndef pick():\n    from pkg import remote\n"
    (tmp_path / "base.py").write_text(base)
    (tmp_path / "remote.py").write_text("from pkg.base import Target\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg.base": {"pkg.remote"}, "pkg.remote": {"pkg.base"}}
    assert find_cycle(graph) in (["pkg.base", "pkg.remote", "pkg.base"],
                                 ["pkg.remote", "pkg.base", "pkg.remote"])  # fmt: skip
