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


def _fingerprint(root: Path) -> str:
    """What the requirements from imports depend on: every ``*.py`` file of the project (its
    path, size and time) and the folders packages are installed in (their times change when
    a package is added or removed), and this Python."""
    import hashlib
    import sys

    digest = hashlib.sha256(sys.version.encode())
    inside = str(root).rstrip(os.sep) + os.sep
    for folder in sys.path:
        if not folder or (os.path.abspath(folder) + os.sep).startswith(inside):
            continue  # the current folder or the project: its files are counted one by one
        try:
            digest.update(f"\n{folder}:{os.stat(folder or '.').st_mtime_ns}".encode())
        except OSError:
            continue
    for path in iter_python_files(root):
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(f"\n{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def cached_project_requirements(root: str | os.PathLike[str], *, home: Path) -> Requirements:
    """:func:`project_requirements`, with those from imports kept under ``home`` while no
    ``*.py`` file of the project and no installed package changes (a scan of a big project
    takes a second; ``run --on HOST`` works them out on every run)."""
    import json

    from tether.jobs.env_records import envs_root, project_key

    base = Path(os.path.realpath(root))
    pyproject = base / "pyproject.toml"
    if (base / "requirements.txt").is_file() or (
        pyproject.is_file() and read_pyproject_dependencies(pyproject) is not None
    ):
        return project_requirements(base)  # cheap: one file read
    cache = envs_root(home) / "requirements" / f"{project_key(base)}.json"
    key = _fingerprint(base)
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data["key"] == key:
            return Requirements(data["source"], list(data["lines"]), list(data["unpinned"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = project_requirements(base)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    record = {"key": key, "source": found.source, "lines": found.lines,
              "unpinned": found.unpinned}  # fmt: skip
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, cache)
    return found
