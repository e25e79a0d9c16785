"""The cap on what one sync sends, and the one walk of the project that serves it.

Before anything is sent, the files that would be sent are totalled; over the cap (``[sync]
max_size`` in ``tether.toml``, ``--max-size``; 100 MB by default) the error names the biggest
files and the ``.tetherignore`` lines that leave them out. One walk of the files rsync could
send (:func:`scan`) says whether they fit without asking rsync, and fingerprints them, so that a
run whose files did not change since the last sync asks nothing of the host.
"""

from __future__ import annotations

import os
import re
import stat

from tether.errors import UsageError
from tether.targets.ssh.command import DEFAULT_EXCLUDES
from tether.targets.ssh.project import Project


def human_size(n: int) -> str:
    """``1.2 MB``, ``512 B`` (decimal units, as ``--max-size`` reads them)."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover


def _ignore_line(rel: str) -> str:
    """The ``.tetherignore`` line (at the project root) leaving out just ``rel``."""
    escaped = re.sub(r"([\\*?\[])", r"\\\1", rel)
    return "/" + escaped if "/" not in rel else escaped


def check_cap(send: list[tuple[str, int]], cap: int, host: str) -> None:
    """Refuse (UsageError, nothing sent) when ``send`` totals more than ``cap`` bytes."""
    total = sum(size for _, size in send)
    if not cap or total <= cap:
        return
    biggest = sorted(send, key=lambda item: (-item[1], item[0]))[:5]
    width = max(len(human_size(size)) for _, size in biggest)
    rows = "\n".join(f"  {human_size(size):>{width}}  {rel}" for rel, size in biggest)
    leave, left = [], total
    for rel, size in biggest:  # the biggest files, until what is left fits
        if left <= cap:
            break
        leave.append(rel)
        left -= size
    lines = "\n".join(f"  {_ignore_line(rel)}" for rel in leave)
    more = "" if left <= cap else " (and more: still over the cap without these)"
    suggest = f"{-(-total // 10**9)}GB"
    raise UsageError(
        f"sync to {host} refused, nothing sent: {len(send)} files to send total "
        f"{human_size(total)}, over the cap of {human_size(cap)}. The biggest:\n{rows}\n"
        f"Leave them out with these lines in .tetherignore (at the project root){more}:\n"
        f"{lines}\nor raise the cap: `tether sync --max-size {suggest}`, or in tether.toml\n"
        f'  [sync]\n  max_size = "{suggest}"    # "none": no cap'
    )


_LEFT_OUT_DIRS = frozenset(p.rstrip("/") for p in DEFAULT_EXCLUDES if p.endswith("/"))


def fits_without_asking(project: Project, cap: int, max_files: int = 20_000) -> bool:
    """Whether every file rsync could send (all regular files here but those the fixed
    excludes leave out) totals at most ``cap``: then no dry run is needed. False when unsure
    (over the cap, or more than ``max_files`` files to look at)."""
    return scan(project, cap, max_files)[0]


def scan(project: Project, cap: int, max_files: int = 20_000) -> tuple[bool, str | None]:
    """One walk of every file rsync could send: whether they total at most ``cap`` (False
    when unsure), and a fingerprint of their names, sizes, times and modes (None past
    ``max_files`` files: unsure)."""
    import hashlib

    digest = hashlib.sha256()
    total = count = 0
    root = str(project.root)
    for folder, dirs, files in os.walk(root):
        top = folder == root
        dirs[:] = sorted(d for d in dirs if d not in _LEFT_OUT_DIRS and not (top and d == "data"))
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
            count += 1
            if count > max_files:
                return False, None
            line = f"{path[len(root) :]}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n"
            digest.update(line.encode("utf-8", "surrogateescape"))
    return total <= cap, digest.hexdigest()
