"""Files a Dataset's runs need and make (``extra_files_send`` / ``extra_files_recv``), as in
remotemanager: named relative to the current folder, per dataset or per run.

Before the job starts, the files to send are put where its runs work: on this machine (and on
a Slurm login node) they already are; on an SSH host or a Slurm cluster reached over ssh they
are copied into the project's copy there, at the same place (files the project sync leaves
out, such as ``data/``, included). Once every run has ended, the files to receive are copied
back from there to here. Every run of a dataset works in the same folder, so a file sent for
one run is there for the others too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from tether.errors import UsageError


def checked_paths(paths: Iterable[str | os.PathLike[str]] | str | None, what: str) -> list[str]:
    """``paths`` as relative POSIX paths below the current folder (no ``..``, not absolute)."""
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for item in paths:
        text = os.fspath(item)
        if not isinstance(text, str) or not text:
            raise UsageError(f"{what}: {item!r} is not a file name")
        path = Path(text)
        if path.is_absolute():
            path = Path(os.path.relpath(path, Path.cwd()))
        rel = PurePosixPath(path.as_posix())
        if ".." in rel.parts or rel.as_posix() in ("", "."):
            raise UsageError(
                f"{what}: {text!r} is not inside the current folder ({Path.cwd()}); the files "
                "a run needs or makes are named relative to it"
            )
        out.append(rel.as_posix())
    return out


def missing_here(paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` (relative to the current folder) that are not here."""
    return [p for p in paths if not Path(p).exists()]
