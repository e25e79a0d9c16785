"""Scanning a project's ``*.py`` files for the modules they import."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

#: Folders never scanned for imports.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        "build",
        "dist",
        "node_modules",
        "site-packages",
        ".tox",
        ".nox",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)

_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def iter_python_files(root: Path) -> Iterator[Path]:
    """The project's ``*.py`` files, skipping virtualenvs, caches and hidden folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS
            and not d.startswith(".")
            and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield here / name


def local_module_names(root: Path) -> set[str]:
    """Names the project's own code can be imported by: every ``.py`` file's stem and
    every folder holding Python files (scripts import their neighbours)."""
    names: set[str] = set()
    for path in iter_python_files(root):
        names.add(path.stem)
        for parent in path.relative_to(root).parents:
            if parent.name:
                names.add(parent.name)
    return names


class _ImportCollector(ast.NodeVisitor):
    """Collects absolute imports, marking those that are allowed to fail."""

    def __init__(self) -> None:
        self.required: set[str] = set()
        self.optional: set[str] = set()
        self._optional_depth = 0

    def _add(self, name: str) -> None:
        (self.optional if self._optional_depth else self.required).add(name)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module)
            for alias in node.names:  # "from google import protobuf" may name a module
                if alias.name != "*":
                    self._add(f"{node.module}.{alias.name}")

    def visit_Try(self, node: ast.Try) -> None:
        catches = any(_catches_import_error(h.type) for h in node.handlers)
        self._optional_depth += catches
        for stmt in node.body:
            self.visit(stmt)
        self._optional_depth -= catches
        rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
        for child in rest:
            self.visit(child)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        conditional = _is_conditional_test(node.test)
        self._optional_depth += conditional
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)
        self._optional_depth -= conditional


def _is_conditional_test(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or a test on ``sys.version_info`` / ``sys.platform``."""
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and node.id == "TYPE_CHECKING":
            return True
        if isinstance(node, ast.Attribute) and node.attr in {
            "TYPE_CHECKING",
            "version_info",
            "platform",
        }:
            return True
    return False


def _catches_import_error(expr: ast.expr | None) -> bool:
    if expr is None:
        return True
    if isinstance(expr, ast.Tuple):
        return any(_catches_import_error(e) for e in expr.elts)
    name = expr.id if isinstance(expr, ast.Name) else getattr(expr, "attr", "")
    return name in _IMPORT_ERRORS


def scan_imports(root: Path) -> tuple[set[str], set[str]]:
    """Dotted names imported by the project's files: (required, optional).

    Optional ones sit in ``try: ... except ImportError``, ``if TYPE_CHECKING:`` or
    under a test of ``sys.version_info`` / ``sys.platform``; they are kept only when
    installed here.
    Relative imports are left out; files that do not parse are skipped.
    """
    collector = _ImportCollector()
    for path in iter_python_files(root):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue
        collector.visit(tree)
    return collector.required, collector.optional - collector.required
