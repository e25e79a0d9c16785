"""The files of one dataset (or executor) run, under ``TETHER_HOME/datasets/NAME/``.

::

    meta.json                      what it is: name, kind, target, job number, workers...
    in/batch-000000-1000.pkl       one batch of calls (functions + arguments), cloudpickled;
                                   the name carries the batch number and its number of calls
    closed                         no more batches will come (a Dataset writes it at once)
    results/000000-00003.pkl       chunk 3 of batch 0: a list of (index, ok, value, traceback)
    done.json                      the launcher finished every batch: counts and end time
    result.json                    (a remote dataset) the host's record of how its job ended

Every file is written atomically (a temporary name, then ``os.replace``), so a reader sees a
file whole or not at all. The client writes ``meta.json``, ``in/`` and ``closed``; the worker
job writes ``results/`` and ``done.json``. For a dataset on a host, the same folder exists there
(under the host's ``TETHER_HOME``) and the SSH target copies files both ways.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from tether.errors import JobNotFound, UsageError

META = "meta.json"
CLOSED = "closed"
DONE = "done.json"
IN_DIR = "in"
RESULTS_DIR = "results"
PENDING = "pending.pkl"  # a then() stage handed to a job of the agent (functions/feed.py)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_BATCH_RE = re.compile(r"^batch-(\d{6})-(\d+)\.pkl$")
_CHUNK_RE = re.compile(r"^(\d{6})-(\d{5})\.pkl$")


def datasets_root(home: Path) -> Path:
    return home / "datasets"


def check_name(name: str) -> str:
    """A dataset name is also a folder name: letters, digits, ``.``, ``_`` and ``-``."""
    if not _NAME_RE.match(name):
        raise UsageError(
            f"dataset name {name!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return name


def default_name(prefix: str) -> str:
    """``PREFIX-YYYYmmdd-HHMMSS-xxxx``: unique enough, sortable, readable in ``tether ls``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", prefix).strip("._-") or "dataset"
    return f"{stem[:60]}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"


def batch_file(batch: int, calls: int) -> str:
    return f"batch-{batch:06d}-{calls}.pkl"


def parse_batch_file(name: str) -> tuple[int, int] | None:
    """``(batch number, number of calls)`` of a batch file name, None for other names."""
    m = _BATCH_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def chunk_file(batch: int, chunk: int) -> str:
    return f"{batch:06d}-{chunk:05d}.pkl"


def parse_chunk_file(name: str) -> tuple[int, int] | None:
    """``(batch, chunk)`` of a result chunk file name, None for other (temporary) names."""
    m = _CHUNK_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


class DatasetDir:
    """Paths of one dataset's folder (a plain class: ``dataclasses`` costs the worker 30 ms)."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"DatasetDir({str(self.path)!r})"

    @classmethod
    def for_name(cls, home: Path, name: str) -> DatasetDir:
        return cls(datasets_root(home) / check_name(name))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def in_dir(self) -> Path:
        return self.path / IN_DIR

    @property
    def results_dir(self) -> Path:
        return self.path / RESULTS_DIR

    @property
    def done_path(self) -> Path:
        return self.path / DONE

    @property
    def closed_path(self) -> Path:
        return self.path / CLOSED

    def exists(self) -> bool:
        return (self.path / META).is_file()

    def create(self) -> None:
        """Make the folder and its subfolders (private to the user)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.mkdir(mode=0o700, exist_ok=True)
        self.in_dir.mkdir(mode=0o700, exist_ok=True)
        self.results_dir.mkdir(mode=0o700, exist_ok=True)

    def read_meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / META).read_text())
        except FileNotFoundError:
            raise JobNotFound(
                f"no dataset named {self.name!r} (looked in {self.path.parent}); "
                "`tether ls` lists the jobs"
            )
        except ValueError as exc:
            raise UsageError(f"{self.path / META}: not valid JSON ({exc})")
        if not isinstance(data, dict):
            raise UsageError(f"{self.path / META}: not a JSON object")
        return data

    def write_meta(self, meta: dict[str, Any]) -> None:
        _write_text_atomic(self.path / META, json.dumps(meta, indent=1))

    def read_done(self) -> dict[str, Any] | None:
        """The launcher's completion record, or None while it still works."""
        try:
            data = json.loads(self.done_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_done(self, info: dict[str, Any]) -> None:
        _write_text_atomic(self.done_path, json.dumps(info))

    def close(self) -> None:
        """Say that no more batches will come."""
        _write_text_atomic(self.closed_path, str(time.time()))

    def is_closed(self) -> bool:
        return self.closed_path.exists()

    def batches(self) -> list[tuple[int, int, str]]:
        """``(batch, calls, file name)`` of every staged batch, in order."""
        found = []
        for entry in os.listdir(self.in_dir):
            parsed = parse_batch_file(entry)
            if parsed:
                found.append((*parsed, entry))
        return sorted(found)

    def chunk_names(self) -> list[str]:
        """Names of the result chunks written so far (complete files only)."""
        try:
            return [n for n in os.listdir(self.results_dir) if _CHUNK_RE.match(n)]
        except FileNotFoundError:
            return []


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_batch(ddir: DatasetDir, batch: int, calls: int, data: bytes) -> str:
    """Stage one pickled batch in ``in/``; returns its file name (relative to the folder)."""
    name = batch_file(batch, calls)
    tmp = ddir.in_dir / f".{name}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, ddir.in_dir / name)
    return f"{IN_DIR}/{name}"


def new_meta(
    name: str,
    kind: str,
    target: str,
    python: str,
    workers: int,
    chunk_size: int | None,
    **more: Any,
) -> dict[str, Any]:
    """The ``meta.json`` of a new dataset or executor run."""
    return {
        "name": name,
        "kind": kind,
        "target": target,
        "python": python,
        "workers": workers,
        "chunk_size": chunk_size,
        "created": time.time(),
        "job": None,
        **more,
    }
