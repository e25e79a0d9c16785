"""Dataset backups: one file that opens the dataset in another TETHER_HOME, read as data.

A backup is a zip archive of three members, always these names:

``backup.json``
    What the dataset is, as JSON: its name, function's name, number of runs, run names, memo
    keys and how each run ended (``ok``, ``failed`` or ``null``).
``batch.pkl``
    The function and every run's arguments, in the dataset's own staged-batch format.
``results.pkl``
    The outcomes so far, in the dataset's own result-chunk format.

Restoring reads ``backup.json`` only and copies the two pickles, unread, to the places a
dataset keeps its staged batch and its results: nothing in the file is unpickled (run) then.
They are unpickled when the results, the runs or the function are asked for, with a
:class:`RestoredCodeWarning` first: a pickle runs code as it is read, so restore only backups
you trust as you trust your own scripts. A file that is not such an archive (an older
backup, which was one pickle, or anything else) is refused without being unpickled.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from tether.errors import UsageError
from tether.functions import layout

BACKUP_FORMAT = "tether-dataset-backup/2"
INFO, BATCH, RESULTS = "backup.json", "batch.pkl", "results.pkl"
MAX_INFO_BYTES = 64 << 20


class RestoredCodeWarning(UserWarning):
    """The pickles of a restored backup are about to be read (which runs code from it)."""


def write(path: Path, info: dict[str, Any], batch: bytes, results: bytes) -> Path:
    """Write a backup file at ``path`` (through a temporary file and a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(INFO, json.dumps({"format": BACKUP_FORMAT, **info}, indent=1))
            archive.writestr(BATCH, batch)
            archive.writestr(RESULTS, results)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read(path: Path) -> tuple[dict[str, Any], bytes, bytes]:
    """The checked JSON description of a backup and its two pickles, as bytes (unread)."""
    refuse = f"{path} is not a tether dataset backup"
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise UsageError(f"{refuse}: {exc.strerror or exc}") from None
    if head[:1] == b"\x80":  # a pickle: a backup of tether before 0.2, or something crafted
        raise UsageError(
            f"{refuse} that tether reads: it is a pickle (as backups of earlier versions "
            "were), and reading a pickle runs code from it. Make the backup again with this "
            "version's Dataset.backup()."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {INFO, BATCH, RESULTS} <= names:
                raise UsageError(
                    f"{refuse}: it lacks {', '.join(sorted({INFO, BATCH, RESULTS} - names))}"
                )
            if archive.getinfo(INFO).file_size > MAX_INFO_BYTES:
                raise UsageError(f"{refuse}: its {INFO} is too big")
            info = json.loads(archive.read(INFO))
            batch, results = archive.read(BATCH), archive.read(RESULTS)
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as exc:
        raise UsageError(f"{refuse}: {exc}") from None
    return _checked(info, refuse), batch, results


def _checked(info: Any, refuse: str) -> dict[str, Any]:
    if not isinstance(info, dict) or info.get("format") != BACKUP_FORMAT:
        raise UsageError(f"{refuse} (its {INFO} does not say {BACKUP_FORMAT})")
    runs = info.get("runs")
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 0:
        raise UsageError(f"{refuse}: 'runs' is not a count")
    layout.check_name(str(info.get("name")))
    for key in ("keys", "names", "finished"):
        value = info.get(key)
        if value is not None and not (isinstance(value, list) and len(value) in (0, runs)):
            raise UsageError(f"{refuse}: {key!r} is not a list of one entry a run")
    return info


def restore(home: Path, path: Path, name: str | None) -> str:
    """Make the dataset of the backup at ``path`` under ``home`` (named ``name``, or as it
    was); returns its name. Nothing from the file is unpickled."""
    info, batch, results = read(path)
    ddir = layout.DatasetDir.for_name(home, layout.check_name(name or str(info["name"])))
    if ddir.exists():
        raise UsageError(f"a dataset named {ddir.name!r} exists here; pass name=...")
    runs = int(info["runs"])
    meta = layout.new_meta(
        ddir.name, "dataset", "local", "", 1, None,
        runs=runs, function=str(info.get("function") or "function"),
        fn_key=str(info.get("fn_key") or ""), keys=list(info.get("keys") or []),
        restored_from=str(path), run_names=info.get("names"),
    )  # fmt: skip
    ddir.create()
    layout.write_batch(ddir, 0, runs, batch)
    chunk = ddir.results_dir / layout.chunk_file(0, 0)
    tmp = chunk.with_name(f".{chunk.name}.{os.getpid()}.tmp")
    tmp.write_bytes(results)
    os.replace(tmp, chunk)
    ddir.close()
    ddir.write_done({"restored": True, "runs": runs})
    ddir.write_meta(meta)  # last: a folder without it is no dataset
    return ddir.name
