"""The metric column store's format and writer (issue 28), beside ``metrics.jsonl``.

``JOB_DIR/metrics/`` holds, per metric, ``NAME.col``: fixed-size little-endian records
(step int64, time float64, value float64), and a min/max pyramid ``NAME.L1``, ``NAME.L2``, ...:
level k has one record per complete block of ``FANOUT**k`` points (first_step, last_step,
last_time, min, max, last, count); NaN takes no part in min and max. Files are append-only:
a partial block lives only in the level below, so a new writer recovers it from the tails.
``names.txt`` lists the metrics in order of appearance; ``unsorted.json`` names the metrics
whose steps went backwards (readers then read them whole). The readers are in
``tether.store.metric_columns``; this module is in the runtime layer because
``tether.report``'s flush thread writes it.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote

FANOUT = 16
COLUMNS_DIR = "metrics"
NAMES_FILE = "names.txt"
UNSORTED_FILE = "unsorted.json"
LOCK_FILE = ".lock"

RAW = struct.Struct("<qdd")  # step, time, value
LEVEL = struct.Struct("<qqddddq")  # first_step, last_step, last_time, min, max, last, count

# A unit of aggregation: (first_step, last_step, last_time, min, max, last, count)
Unit = tuple[int, int, float, float, float, float, int]
NAN = math.nan


def encode(name: str) -> str:
    """A safe file name for metric NAME (percent-encoding outside [A-Za-z0-9_.-])."""
    safe = quote(name, safe="", encoding="utf-8", errors="strict")
    safe = safe.replace("~", "%7E")
    return "%2E" + safe[1:] if safe.startswith(".") else safe  # no hidden or '..' names


def decode(stem: str) -> str:
    return unquote(stem)


def column_path(folder: Path, name: str, level: int = 0) -> Path:
    """The raw column (level 0) or pyramid level file of metric NAME in FOLDER (``metrics/``)."""
    suffix = ".col" if level == 0 else f".L{level}"
    return folder / (encode(name) + suffix)


def raw_unit(step: int, when: float, value: float) -> Unit:
    """A single point as a unit (min and max are NaN for a NaN value)."""
    return (step, step, when, value, value, value, 1)


def merge(units: Iterable[Unit]) -> Unit | None:
    """One unit summing UNITS in order (None for none); NaN is left out of min and max."""
    first: Unit | None = None
    low = high = NAN
    last: Unit | None = None
    count = 0
    for unit in units:
        if first is None:
            first = unit
        last = unit
        count += unit[6]
        lo, hi = unit[3], unit[4]
        if lo == lo and not lo >= low:  # NaN-aware min (low starts as NaN)
            low = lo
        if hi == hi and not hi <= high:
            high = hi
    if first is None or last is None:
        return None
    return (first[0], last[1], last[2], low, high, last[5], count)


def _raw_block(rows: list[tuple]) -> Unit:
    """One unit of raw rows (step, time, value): ``merge`` of their units, faster."""
    values = [row[2] for row in rows]
    clean = [v for v in values if v == v]
    low, high = (min(clean), max(clean)) if clean else (NAN, NAN)
    return (rows[0][0], rows[-1][0], rows[-1][1], low, high, values[-1], len(rows))


def read_records(fd: int, record: struct.Struct, start: int, stop: int) -> list[tuple]:
    """Records START..STOP (exclusive) of an open column or level file, in one read."""
    if stop <= start:
        return []
    data = os.pread(fd, (stop - start) * record.size, start * record.size)
    whole = len(data) // record.size * record.size
    return list(record.iter_unpack(data[:whole]))


def as_units(level: int, rows: list[tuple]) -> list[Unit]:
    """Rows of a level file (or raw rows for level 0) as units."""
    if level == 0:
        return [raw_unit(*row) for row in rows]
    return rows


class ColumnWriter:
    """Appends points to a job's column store; safe across processes (a file lock) and
    restarts (state is recovered from the files' tails on every append: bounded work)."""

    def __init__(self, job_dir: Path) -> None:
        self.folder = job_dir / COLUMNS_DIR
        self.known: list[str] | None = None

    def append(self, points: list[tuple[int, float, dict[str, float | None]]]) -> None:
        """Add POINTS, (step, time, {name: value}); None values are skipped."""
        per_name: dict[str, list[tuple[int, float, float]]] = {}
        for step, when, values in points:
            point_step = step if type(step) is int else int(step)
            for name, value in values.items():
                if value is not None:
                    rows = per_name.get(name)
                    if rows is None:
                        rows = per_name[name] = []
                    rows.append((point_step, when, value))
        if not per_name:
            return
        self.folder.mkdir(exist_ok=True)
        with open(self.folder / LOCK_FILE, "a+b") as lock:
            _lock(lock.fileno())
            self._register(list(per_name))
            backwards = [name for name, rows in per_name.items() if self._append_one(name, rows)]
            if backwards:
                self._mark_unsorted(backwards)

    def _register(self, names: list[str]) -> None:
        """Add new NAMES to ``names.txt`` (the order metrics first appeared in)."""
        if self.known is None or any(n not in self.known for n in names):
            self.known = read_names(self.folder)
        new = [n for n in names if n not in self.known]
        if new:
            with open(self.folder / NAMES_FILE, "a", encoding="utf-8") as out:
                out.write("".join(encode(n) + "\n" for n in new))
            self.known.extend(new)

    def _append_one(self, name: str, rows: list[tuple[int, float, float]]) -> bool:
        """Append ROWS to NAME's column and bring its pyramid up to date; True when a step
        went backwards."""
        fd = os.open(column_path(self.folder, name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            count = _trim(fd, RAW.size)
            previous = read_records(fd, RAW, max(0, count - 1), count)
            steps = [row[0] for row in previous + rows]
            backwards = steps != sorted(steps)
            os.pwrite(fd, b"".join(RAW.pack(*row) for row in rows), count * RAW.size)
            self._build_levels(name, fd, count + len(rows))
        finally:
            os.close(fd)
        return backwards

    def _build_levels(self, name: str, raw_fd: int, below_count: int) -> None:
        """Append the complete blocks each level is missing, level by level."""
        level, below_fd, below_record = 1, raw_fd, RAW
        opened: list[int] = []
        try:
            while below_count >= FANOUT:
                fd = os.open(column_path(self.folder, name, level), os.O_RDWR | os.O_CREAT, 0o644)
                opened.append(fd)
                have = min(_trim(fd, LEVEL.size), below_count // FANOUT)
                want = below_count // FANOUT
                rows = read_records(below_fd, below_record, have * FANOUT, want * FANOUT)
                groups = [rows[i : i + FANOUT] for i in range(0, len(rows), FANOUT)]
                blocks = [_raw_block(g) if level == 1 else merge(g) for g in groups]
                data = b"".join(LEVEL.pack(*b) for b in blocks if b is not None)
                os.pwrite(fd, data, have * LEVEL.size)
                os.ftruncate(fd, want * LEVEL.size)
                level, below_fd, below_record, below_count = level + 1, fd, LEVEL, want
        finally:
            for fd in opened:
                os.close(fd)

    def _mark_unsorted(self, names: list[str]) -> None:
        path = self.folder / UNSORTED_FILE
        marked = sorted(set(read_unsorted(self.folder)) | set(names))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"unsorted": marked}))
        os.replace(tmp, path)


def _trim(fd: int, size: int) -> int:
    """Records in an open file, cutting a torn last record; its record count."""
    length = os.fstat(fd).st_size
    if length % size:
        os.ftruncate(fd, length - length % size)
    return length // size


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one writer per job is the norm
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def read_names(folder: Path) -> list[str]:
    """The metrics of a column store, in order of first appearance (none when absent)."""
    try:
        text = (folder / NAMES_FILE).read_text(encoding="utf-8")
    except OSError:
        return []
    names: list[str] = []
    for line in text.split("\n")[:-1]:  # a torn last line has no newline yet
        name = decode(line)
        if line and name not in names:
            names.append(name)
    return names


def read_unsorted(folder: Path) -> list[str]:
    """Metrics whose steps went backwards."""
    try:
        value = json.loads((folder / UNSORTED_FILE).read_text())
        return [str(n) for n in value["unsorted"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
