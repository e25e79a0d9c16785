"""Reading a job's metric column store (``JOB_DIR/metrics/``, issue 28): a summary in
O(levels) records and a bucketed min/max/last read in O(buckets) records, whatever the number
of points. The format and the writer (``ColumnWriter``) are ``tether.runtime.columns``: the
flush thread of ``tether.report`` writes the store, and the runtime layer is below this one.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from pathlib import Path
from types import TracebackType
from typing import Any

from tether.runtime.columns import (
    COLUMNS_DIR,
    FANOUT,
    LEVEL,
    NAMES_FILE,
    RAW,
    ColumnWriter,
    Unit,
    as_units,
    column_path,
    merge,
    read_names,
    read_records,
    read_unsorted,
)
from tether.store.metrics import MetricSummary

__all__ = ["ColumnWriter", "bucket_points", "buckets", "has_columns", "names"]


def has_columns(job_dir: Path) -> bool:
    """Whether the job wrote a column store (jobs run before issue 28 did not)."""
    return (job_dir / COLUMNS_DIR / NAMES_FILE).is_file()


def names(job_dir: Path) -> list[str]:
    """The job's metrics, in order of first appearance."""
    return read_names(job_dir / COLUMNS_DIR)


class _Column:
    """One metric's open column and pyramid files, with their record counts."""

    def __init__(self, job_dir: Path, name: str) -> None:
        self.folder = job_dir / COLUMNS_DIR
        self.name = name
        self.fds: list[int] = []
        self.counts: list[int] = []

    def __enter__(self) -> _Column:
        level, below = 0, None
        while below is None or below >= FANOUT:
            try:
                fd = os.open(column_path(self.folder, self.name, level), os.O_RDONLY)
            except OSError:
                break
            size = RAW.size if level == 0 else LEVEL.size
            count = os.fstat(fd).st_size // size  # a torn last record is ignored
            if below is not None:
                count = min(count, below // FANOUT)  # a level a writer has not reached yet
            self.fds.append(fd)
            self.counts.append(count)
            level, below = level + 1, count
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for fd in self.fds:
            os.close(fd)

    @property
    def count(self) -> int:
        return self.counts[0] if self.counts else 0

    def read(self, level: int, start: int, stop: int) -> list[Unit]:
        record = RAW if level == 0 else LEVEL
        return as_units(level, read_records(self.fds[level], record, start, stop))

    def raw(self, start: int, stop: int) -> list[tuple[int, float, float]]:
        return read_records(self.fds[0], RAW, start, stop)

    def step_at(self, index: int) -> int:
        return int(self.raw(index, index + 1)[0][0])

    def bisect(self, step: int, right: bool = False) -> int:
        """The first index whose step is >= STEP (> STEP when RIGHT), by bisection."""
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            at = self.step_at(mid)
            if at < step or (right and at == step):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def cover(self, start: int, stop: int, level: int) -> list[Unit]:
        """Units covering points START..STOP in order: whole blocks of LEVEL and, at the
        edges, of the finer levels (at most FANOUT-1 records per level and edge)."""
        if stop <= start:
            return []
        if level == 0:
            return self.read(0, start, stop)
        block = FANOUT**level
        first = -(-start // block)
        last = min(stop // block, self.counts[level])
        if first >= last:
            return self.cover(start, stop, level - 1)
        return (
            self.cover(start, first * block, level - 1)
            + self.read(level, first, last)
            + self.cover(last * block, stop, level - 1)
        )


def summary(job_dir: Path, name: str) -> MetricSummary | None:
    """NAME's last value and step, min, max and count, reading O(levels) records."""
    with _Column(job_dir, name) as column:
        if column.count == 0:
            return None
        whole = merge(column.cover(0, column.count, len(column.counts) - 1))
        assert whole is not None
        return MetricSummary(
            last=whole[5],
            last_step=whole[1],
            min=None if math.isnan(whole[3]) else whole[3],
            max=None if math.isnan(whole[4]) else whole[4],
            count=whole[6],
        )


def buckets(
    job_dir: Path, name: str, start: int | None = None, end: int | None = None, buckets: int = 1000
) -> dict[str, Any]:
    """NAME's points between steps START..END as min, max and last per step bucket, in the
    shape of ``tether.api.metrics.downsample`` plus ``time`` (each bucket's last time). Touches
    O(BUCKETS) records: whole pyramid blocks when the range holds many points."""
    if buckets < 1:
        raise ValueError("buckets must be >= 1")
    with _Column(job_dir, name) as column:
        if name in read_unsorted(job_dir / COLUMNS_DIR):
            return _unsorted(column, start, end, buckets)
        i = 0 if start is None else column.bisect(start)
        j = column.count if end is None else column.bisect(end, right=True)
        level = _level(j - i, buckets, len(column.counts) - 1)
        if level == 0:
            rows = column.raw(i, j)
            return bucket_points(
                [r[0] for r in rows], [r[2] for r in rows], buckets, [r[1] for r in rows]
            )
        return _bucket_units(column.cover(i, j, level), buckets, j - i)


def _level(points: int, buckets: int, top: int) -> int:
    """The coarsest level that still has at least BUCKETS records over POINTS points."""
    level = 0
    while level < top and points // FANOUT ** (level + 1) >= buckets:
        level += 1
    return level


def _unsorted(column: _Column, start: int | None, end: int | None, buckets: int) -> dict[str, Any]:
    """The whole-read fallback for a metric whose steps went backwards."""
    rows = sorted(column.raw(0, column.count), key=lambda r: r[0])
    steps = [r[0] for r in rows]
    i = 0 if start is None else bisect_left(steps, start)
    j = len(rows) if end is None else bisect_left(steps, end + 1)
    rows = rows[i:j]
    return bucket_points(steps[i:j], [r[2] for r in rows], buckets, [r[1] for r in rows])


def _nan_min(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return min(clean) if clean else math.nan


def _nan_max(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return max(clean) if clean else math.nan


def bucket_points(
    steps: list[int], values: list[float], buckets: int, times: list[float] | None = None
) -> dict[str, Any]:
    """Min, max and last value per step bucket (steps ascending), so spikes survive; the last
    point is exact. NaN takes no part in min and max (NaN when a bucket has nothing else).
    With TIMES, also each bucket's last time."""
    total = len(steps)
    if total <= buckets * 3:
        out: dict[str, Any] = {
            "step": list(steps),
            "min": list(values),
            "max": list(values),
            "last": list(values),
        }
        if times is not None:
            out["time"] = list(times)
        return {**out, "points": total, "sent": total}
    lo, hi = steps[0], steps[-1]
    width = max(1.0, (hi - lo + 1) / buckets)
    cols: dict[str, list[Any]] = {"step": [], "min": [], "max": [], "last": []}
    if times is not None:
        cols["time"] = []
    i = 0
    for b in range(1, buckets + 1):
        j = total if b == buckets else max(i, bisect_left(steps, lo + b * width, i))
        if j > i:
            chunk = values[i:j]
            cols["step"].append(steps[j - 1])
            cols["min"].append(_nan_min(chunk))
            cols["max"].append(_nan_max(chunk))
            cols["last"].append(chunk[-1])
            if times is not None:
                cols["time"].append(times[j - 1])
        i = j
    return {**cols, "points": total, "sent": len(cols["step"])}


def _bucket_units(units: list[Unit], buckets: int, points: int) -> dict[str, Any]:
    """``bucket_points`` over pyramid units: each unit falls in the bucket of its last step."""
    cols: dict[str, list[Any]] = {"step": [], "min": [], "max": [], "last": [], "time": []}
    lo, hi = units[0][0], units[-1][1]
    width = max(1.0, (hi - lo + 1) / buckets)
    edge, group = 1, list[Unit]()
    for unit in units:
        while edge < buckets and unit[1] >= lo + edge * width:
            _emit(cols, group)
            group, edge = [], edge + 1
        group.append(unit)
    _emit(cols, group)
    return {**cols, "points": points, "sent": len(cols["step"])}


def _emit(cols: dict[str, list[Any]], group: list[Unit]) -> None:
    whole = merge(group)
    if whole is None:
        return
    cols["step"].append(whole[1])
    cols["min"].append(whole[3])
    cols["max"].append(whole[4])
    cols["last"].append(whole[5])
    cols["time"].append(whole[2])
