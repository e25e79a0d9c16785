"""Which files of a project a snapshot (or a sync) takes: the project's root, its ignore rules
(``.gitignore`` and ``.tetherignore`` at any depth, git semantics), folders always skipped, and
the size limit."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tether.errors import ProgramError

if TYPE_CHECKING:
    import pathspec

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# A script outside any project stores its own folder: tighter caps, since that folder may be
# a home folder full of unrelated things.
OUTSIDE_MAX_FILES = 2_000
OUTSIDE_MAX_BYTES = 64 * 1024 * 1024
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
        ".eggs",
        "site-packages",
        "dist-packages",
    }
)
_STDLIB_FOLDER = re.compile(r"python\d+(\.\d+)?t?")


@dataclass
class FoundFile:
    rel: str
    path: str
    st: os.stat_result


@dataclass
class Listing:
    files: list[FoundFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    total_bytes: int = 0


@dataclass(frozen=True)
class Caps:
    """How much one snapshot or sync may take: files and bytes; ``outside`` marks a folder
    that is no project (hidden folders are skipped there too)."""

    max_files: int | None = DEFAULT_MAX_FILES
    max_bytes: int | None = DEFAULT_MAX_BYTES
    outside: bool = False


def caps_for(project_root: Path | None) -> Caps:
    """The caps of a project (``None``: a script outside any project, its folder taken)."""
    if project_root is None:
        return Caps(OUTSIDE_MAX_FILES, OUTSIDE_MAX_BYTES, outside=True)
    return Caps()


def find_project_root(script: Path) -> Path | None:
    """The nearest folder, from the script's own upwards, holding a project marker
    (``.git``, ``pyproject.toml``, ``setup.py``, ``tether.toml``, ``.tetherignore``)."""
    folder = Path(os.path.abspath(script)).parent
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git") or any(
            os.path.isfile(candidate / marker) for marker in PROJECT_MARKERS[1:]
        ):
            return candidate  # .git may be a folder or a file (worktrees); the rest files
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
    caps: Caps | None = None,
) -> Listing:
    """Find the files of a project, pruning ignored and always-skipped folders (virtualenvs,
    Python installs, ``site-packages``, caches, ``.git``); over a cap (``caps``, or just
    ``max_files``) raise :class:`ProgramError` naming the biggest folders."""
    if caps is None:
        caps = Caps(max_files, None)
    import pathspec  # imported when a walk needs it (not when a project is only found)

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
                    hidden = caps.outside and entry.name.startswith(".")
                    if hidden or _skip_folder(entry, skip) or rules.ignored(rel + "/"):
                        continue
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
                listing.total_bytes += st.st_size
        _check_caps(root, listing, caps)
        stack.extend(reversed(subfolders))
    return listing


def _skip_folder(entry: os.DirEntry[str], skip: set[str]) -> bool:
    name = entry.name
    if entry.path in skip:
        return True
    if name in ALWAYS_SKIPPED_DIRS:
        return not (name == "data" and os.path.isfile(os.path.join(entry.path, "__init__.py")))
    if _STDLIB_FOLDER.fullmatch(name) and os.path.isfile(os.path.join(entry.path, "os.py")):
        return True  # a Python install's standard library (lib/python3.11)
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(entry.path, "conda-meta")
    )


def _read_ignore_files(folder: Path, extra: Sequence[Path] = ()) -> list[pathspec.PathSpec]:
    import pathspec

    specs: list[pathspec.PathSpec] = []
    for path in (*extra, *(folder / name for name in IGNORE_FILES)):
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        specs.append(pathspec.GitIgnoreSpec.from_lines(text.splitlines()))
    return specs


def _check_caps(root: Path, listing: Listing, caps: Caps) -> None:
    too_many = caps.max_files is not None and len(listing.files) > caps.max_files
    too_big = caps.max_bytes is not None and listing.total_bytes > caps.max_bytes
    if too_many or too_big:
        raise ProgramError(_too_large(root, listing, caps))


def _too_large(root: Path, listing: Listing, caps: Caps) -> str:
    """The refusal of a project over a cap, naming the biggest folders."""
    counts: dict[str, list[int]] = {}
    for found in listing.files:
        top = found.rel.split("/", 1)[0] + ("/" if "/" in found.rel else "")
        entry = counts.setdefault(top, [0, 0])
        entry[0] += 1
        entry[1] += found.st.st_size
    biggest = sorted(counts.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))[:3]
    named = ", ".join(f"{name} ({n} files, {_mib(b)})" for name, (n, b) in biggest)
    lines = "".join(f"\n  {name}" for name, _ in biggest if name.endswith("/"))
    if caps.max_files is not None and len(listing.files) > caps.max_files:
        over = f"more than {caps.max_files} files to store ({len(listing.files)} found so far"
    else:
        over = (
            f"more than {_mib(caps.max_bytes or 0)} to store "
            f"({_mib(listing.total_bytes)} in {len(listing.files)} files found so far"
        )
    where = (
        f"{root} is not inside a project (no .git, pyproject.toml or tether.toml above the "
        "script), so its whole folder would be stored; it has"
        if caps.outside
        else f"the project at {root} has"
    )
    return (
        f"{where} {over}; most in {named}); nothing queued. Add the folders that are not "
        f"code to {root / '.tetherignore'}, one a line, e.g.:{lines or chr(10) + '  FOLDER/'}"
    )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
