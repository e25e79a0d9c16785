"""The git state of a project when a job is submitted: the commit, the branch and the changes
not committed yet in the project's folder (each attempt records its own, so a result can be
traced to its code).

Asked of the ``git`` command (one call for a clean tree, two for a dirty one, each bounded);
no git, or a folder that is not in a work tree: nothing is recorded. The diff of the changes
(``git diff HEAD``: staged and unstaged, tracked files) is kept in the version store, and
the files git does not track are listed by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 10.0
ARCHIVE_TIMEOUT = 120.0  # git archive of a big tree takes a while
MAX_DIFF_BYTES = 4 << 20
"""A bigger diff is kept cut, with a last line that says so."""


@dataclass
class GitState:
    """A work tree's state: ``commit`` (None before the first commit), ``branch`` (None when
    detached), the changed and the untracked files, and the diff of the changes."""

    commit: str | None
    branch: str | None
    changed: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    diff: bytes = b""

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.untracked)

    def record(self, diff_id: str | None) -> dict[str, Any]:
        """What a job's record keeps (``extra["git"]``): the diff by its id in the store."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "changed": self.changed,
            "untracked": self.untracked,
            "diff": diff_id,
        }


def in_work_tree(folder: Path) -> bool:
    """Whether ``folder`` or a folder above it holds ``.git`` (a few ``stat`` calls: no git
    process for a project that is not in a repository)."""
    return any((p / ".git").exists() for p in (folder, *folder.parents))


def git_state(folder: Path) -> GitState | None:
    """The state of the work tree holding ``folder``; None without git or a work tree."""
    git = shutil.which("git")
    if git is None:
        return None
    # only the project's own folder: a project in a bigger repository (a home folder under
    # git) is not charged for the rest of it
    status = _git(git, folder, "status", "--porcelain=v2", "--branch", "-z", "--", ".")
    if status is None:
        return None
    commit = branch = None
    changed: list[str] = []
    untracked: list[str] = []
    entries = status.split(b"\0")
    i = 0
    while i < len(entries):
        entry = entries[i].decode(errors="replace")
        i += 1
        if entry.startswith("# branch.oid "):
            oid = entry.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry.split(maxsplit=2)[-1]
            branch = None if head == "(detached)" else head
        elif entry.startswith(("1 ", "u ")):
            changed.append(entry.split(" ", 8 if entry[0] == "1" else 10)[-1])
        elif entry.startswith("2 "):  # a rename: the new path, then the old one
            changed.append(entry.split(" ", 9)[-1])
            i += 1
        elif entry.startswith("? "):
            untracked.append(entry[2:])
    state = GitState(commit, branch, changed, untracked)
    if changed and commit:
        diff = _git(git, folder, "diff", "HEAD", "--no-color", "--no-ext-diff", "--", ".") or b""
        if len(diff) > MAX_DIFF_BYTES:
            cut = len(diff) - MAX_DIFF_BYTES
            diff = diff[:MAX_DIFF_BYTES] + f"\n[... {cut} more bytes cut by tether]\n".encode()
        state.diff = diff
    return state


def _git(git: str, folder: Path, *args: str, timeout: float = TIMEOUT) -> bytes | None:
    try:
        proc = subprocess.run(
            [git, "-C", str(folder), *args],
            capture_output=True,
            timeout=timeout,
            env=_quiet_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _quiet_env() -> dict[str, str]:
    """No pager, no prompt, no locale-dependent text; the user's config otherwise."""
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}


def checkout(script: Path, ref: str, home: Path) -> tuple[Path, GitState]:
    """A clean copy of ``ref``'s tree (``tether run --git REF``), made once per commit under
    ``home/checkouts/COMMIT`` (``git archive``: tracked files only); returns the script's
    path in it and the state to record (that commit, nothing uncommitted)."""
    from tether.errors import UsageError

    git = shutil.which("git")
    if git is None:
        raise UsageError(f"--git {ref}: git is not installed here; nothing queued")
    top_text = _git(git, script.parent, "rev-parse", "--show-toplevel")
    if top_text is None:
        raise UsageError(f"--git {ref}: {script} is not in a git repository; nothing queued")
    top = Path(top_text.decode().strip())
    found = _git(git, top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found is None:
        raise UsageError(f"--git {ref}: no such commit, branch or tag in {top}; nothing queued")
    commit = found.decode().strip()
    rel = script.resolve().relative_to(top.resolve())
    dest = home / "checkouts" / commit
    if not dest.is_dir():
        _extract(git, top, commit, dest)
    there = dest / rel
    if not there.is_file():
        raise UsageError(
            f"--git {ref}: {rel.as_posix()} is not in commit {commit[:12]} (not committed "
            "there yet?); nothing queued"
        )
    return there, GitState(commit, None)


def _extract(git: str, top: Path, commit: str, dest: Path) -> None:
    """``git archive`` of ``commit`` unpacked into a new folder renamed to ``dest``."""
    import io
    import tarfile

    from tether.errors import UsageError

    archive = _git(git, top, "archive", "--format=tar", commit, timeout=ARCHIVE_TIMEOUT)
    if archive is None:
        raise UsageError(f"--git: git archive {commit[:12]} failed in {top}; nothing queued")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{commit}.{os.getpid()}.part"
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(staging, filter="data")  # no links out, no absolute paths
        try:
            os.rename(staging, dest)
        except OSError:  # another run made it first
            if not dest.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
