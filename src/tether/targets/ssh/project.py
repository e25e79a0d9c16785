"""The project folder here and its copy on a host (``~/tether/projects/NAME/``).

The project is the nearest folder, from the current one upwards, holding a project marker
(``.git``, ``pyproject.toml``, ``setup.py``, ``tether.toml``, ``.tetherignore``); without
one, the current folder. Paths given to ``push``/``pull`` are relative to the project on
both sides; absolute paths and ``..`` leading out of the project are refused.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from tether.errors import UsageError
from tether.tuning.project_files import find_project_root

REMOTE_PROJECTS = "tether/projects"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Project:
    """A local project folder and the name its copy has on every host."""

    root: Path
    name: str
    outside: bool = False  # no project marker: the current folder stands in for one

    @property
    def remote_dir(self) -> str:
        """The copy's folder, relative to the remote home (no trailing slash)."""
        return f"{REMOTE_PROJECTS}/{self.name}"

    def remote_path(self, rel: str) -> str:
        """``rel`` (already checked) inside the remote copy, relative to the remote home."""
        return self.remote_dir if rel in ("", ".") else f"{self.remote_dir}/{rel}"


def project_name(root: Path) -> str:
    """A file-name-safe version of the folder's name (``my project`` -> ``my_project``)."""
    name = _UNSAFE.sub("_", root.name).strip("._") or "project"
    return name[:64]


def find_project(cwd: Path | None = None) -> Project:
    """The project containing ``cwd`` (default: the current folder)."""
    here = Path(os.path.abspath(cwd or Path.cwd()))
    root = find_project_root(here / "__tether_probe__")
    if root is None:
        return Project(root=here, name=project_name(here), outside=True)
    return Project(root=root, name=project_name(root))


def _check_words(path: str, side: str) -> None:
    if not path:
        raise UsageError(f"the {side} path is empty")
    if "\0" in path or "\n" in path:
        raise UsageError(f"the {side} path {path!r} contains a line break or NUL")


def local_relpath(project: Project, path: str, cwd: Path | None = None) -> str:
    """``path`` (relative to the current folder) as a path relative to the project root."""
    _check_words(path, "local")
    if os.path.isabs(path) or path.startswith("~"):
        raise UsageError(
            f"local path {path!r} is absolute; give a path relative to the project ({project.root})"
        )
    here = Path(os.path.abspath(cwd or Path.cwd()))
    full = os.path.normpath(os.path.join(here, path))
    rel = os.path.relpath(full, project.root)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise UsageError(f"local path {path!r} leads out of the project ({project.root}); refused")
    return Path(rel).as_posix()


def remote_relpath(path: str) -> str:
    """``path`` on the host, checked to stay inside the remote project; normalised."""
    _check_words(path, "remote")
    if path.startswith(("/", "~")):
        raise UsageError(
            f"remote path {path!r} is absolute; give a path relative to the project on the host"
        )
    rel = posixpath.normpath(path)
    if rel == ".." or rel.startswith("../"):
        raise UsageError(f"remote path {path!r} leads out of the project on the host; refused")
    return rel
