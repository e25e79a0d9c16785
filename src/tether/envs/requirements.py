"""Working out which packages a project needs, to install them on another machine.

In order of preference: ``requirements.txt``; else ``[project].dependencies`` of
``pyproject.toml``; else the third-party imports found in the project's ``*.py`` files,
pinned to the versions installed here (unpinned when not installed here).
The pieces live in :mod:`tether.envs.lines` (files, hashing), :mod:`tether.envs.imports`
(scanning) and :mod:`tether.envs.pinning` (modules to pinned distributions).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tether.envs.imports import iter_python_files, local_module_names, scan_imports
from tether.envs.lines import (
    Requirements,
    canonical_name,
    normalize_line,
    read_pyproject_dependencies,
    read_requirements_file,
    requirements_hash,
)
from tether.envs.pinning import DEFAULT_IGNORED, KNOWN_DISTRIBUTIONS, requirements_from_imports

__all__ = [
    "DEFAULT_IGNORED",
    "KNOWN_DISTRIBUTIONS",
    "Requirements",
    "canonical_name",
    "iter_python_files",
    "local_module_names",
    "normalize_line",
    "project_requirements",
    "read_pyproject_dependencies",
    "read_requirements_file",
    "requirements_from_imports",
    "requirements_hash",
    "scan_imports",
]


def project_requirements(
    root: str | os.PathLike[str],
    *,
    ignore: Iterable[str] = DEFAULT_IGNORED,
    site_paths: Sequence[str] | None = None,
) -> Requirements:
    """The requirements of the project in ``root`` (see the module docstring for the order)."""
    base = Path(root)
    req_txt = base / "requirements.txt"
    if req_txt.is_file():
        return Requirements(source="requirements.txt", lines=read_requirements_file(req_txt))
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        deps = read_pyproject_dependencies(pyproject)
        if deps is not None:
            return Requirements(source="pyproject.toml", lines=deps)
    return requirements_from_imports(base, ignore=ignore, site_paths=site_paths)
