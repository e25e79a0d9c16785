"""Which files of a project a snapshot (or a sync) takes: the project's root, its ignore rules
(``.gitignore`` and ``.tetherignore`` at any depth, git semantics), folders always skipped, and
the size limit."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from tether.errors import ProgramError

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
DEFAULT_MAX_FILES = 50_000
DEFAULT_INCLUDE = ("*.py",)
PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "tether.toml", ".tetherignore")
IGNORE_FILES = (".gitignore", ".tetherignore")
ALWAYS_SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "venv",
        "data",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)


@dataclass
class FoundFile:
    rel: str
    path: str
    st: os.stat_result


@dataclass
class Listing:
    files: list[FoundFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_project_root(script: Path) -> Path | None:
    """The nearest folder, from the script's own upwards, holding a project marker
    (``.git``, ``pyproject.toml``, ``setup.py``, ``tether.toml``, ``.tetherignore``)."""
    folder = Path(os.path.abspath(script)).parent
    for candidate in (folder, *folder.parents):
        if any(os.path.lexists(candidate / marker) for marker in PROJECT_MARKERS):
            return candidate
    return None


def list_project_files(
    project_root: Path,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    extra_ignores: Sequence[str] = (),
    include: Sequence[str] = DEFAULT_INCLUDE,
) -> tuple[list[str], list[str]]:
    """The relative paths a snapshot of ``project_root`` would hold, and those skipped for
    size (the entry script is added by the snapshot itself)."""
    listing = walk_project(
        Path(os.path.abspath(project_root)), max_file_bytes, extra_ignores, include
    )
    return [f.rel for f in listing.files], listing.skipped


@dataclass(frozen=True)
class _Rules:
    """Ignore specs that apply in a folder: (folder relpath with '/', spec), outermost first."""

    specs: tuple[tuple[str, pathspec.PathSpec], ...] = ()

    def with_folder(self, base: str, specs: Iterable[pathspec.PathSpec]) -> _Rules:
        return _Rules(self.specs + tuple((base, spec) for spec in specs))

    def ignored(self, rel: str) -> bool:
        for base, spec in reversed(self.specs):
            result = spec.check_file(rel[len(base) :])
            if result.include is not None:
                return bool(result.include)
        return False


def walk_project(
    root: Path,
    max_file_bytes: int,
    extra_ignores: Sequence[str],
    include: Sequence[str],
    skip_dirs: Iterable[str] = (),
    max_files: int | None = None,
) -> Listing:
    """Find the files of a project, pruning ignored and always-skipped folders."""
    include_spec = pathspec.GitIgnoreSpec.from_lines(include)
    only_py = tuple(include) == DEFAULT_INCLUDE
    skip = set(skip_dirs)
    listing = Listing()
    root_specs = _read_ignore_files(root, [root / ".git" / "info" / "exclude"])
    if extra_ignores:
        root_specs.append(pathspec.GitIgnoreSpec.from_lines(extra_ignores))
    stack = [(str(root), "", _Rules().with_folder("", root_specs))]
    while stack:
        folder, base, rules = stack.pop()
        if base:
            rules = rules.with_folder(base, _read_ignore_files(Path(folder)))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            rel = base + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not _skip_folder(entry, skip) and not rules.ignored(rel + "/"):
                        subfolders.append((entry.path, rel + "/", rules))
                    continue
                if not entry.is_file():
                    continue
                wanted = entry.name.endswith(".py") if only_py else include_spec.match_file(rel)
                if not wanted or rules.ignored(rel):
                    continue
                st = entry.stat()
            except OSError:
                continue
            if st.st_size > max_file_bytes:
                listing.skipped.append(rel)
            else:
                listing.files.append(FoundFile(rel, entry.path, st))
        if max_files is not None and len(listing.files) > max_files:
            raise ProgramError(_too_large(root, listing, max_files))
        stack.extend(reversed(subfolders))
    return listing


def _skip_folder(entry: os.DirEntry[str], skip: set[str]) -> bool:
    name = entry.name
    if entry.path in skip:
        return True
    if name in ALWAYS_SKIPPED_DIRS:
        return not (name == "data" and os.path.isfile(os.path.join(entry.path, "__init__.py")))
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(entry.path, "conda-meta")
    )


def _read_ignore_files(folder: Path, extra: Sequence[Path] = ()) -> list[pathspec.PathSpec]:
    specs: list[pathspec.PathSpec] = []
    for path in (*extra, *(folder / name for name in IGNORE_FILES)):
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        specs.append(pathspec.GitIgnoreSpec.from_lines(text.splitlines()))
    return specs


def _too_large(root: Path, listing: Listing, max_files: int) -> str:
    """The refusal of a project with too many files, naming the biggest folders."""
    counts: dict[str, int] = {}
    for found in listing.files:
        top = found.rel.split("/", 1)[0] + ("/" if "/" in found.rel else "")
        counts[top] = counts.get(top, 0) + 1
    biggest = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    named = ", ".join(f"{name} ({n} files)" for name, n in biggest)
    lines = "".join(f"\n  {name}" for name, _ in biggest if name.endswith("/"))
    return (
        f"the project at {root} has more than {max_files} files to store "
        f"({len(listing.files)} found so far; most in {named}); nothing queued. Add the "
        f"folders that are not code to {root / '.tetherignore'}, one a line, e.g.:{lines}"
    )
