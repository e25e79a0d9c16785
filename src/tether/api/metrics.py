"""A job's metrics through the API: downsampled for charts (min, max and last per step
bucket, so spikes survive) and summed up for ``tether scalars``; from the job's column store
when it has one, else its metrics.jsonl."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.api.jobs import find_job
from tether.errors import UsageError
from tether.store.jobs import Job, JobStore

if TYPE_CHECKING:
    from tether.store.metrics import Metrics


def downsample(steps: list[int], values: list[float], buckets: int) -> dict[str, Any]:
    """Min, max and last value per step bucket (steps ascending), so spikes survive; the last
    point is exact; NaN takes no part in min and max (``store.metric_columns.bucket_points``)."""
    from tether.store.metric_columns import bucket_points

    if buckets < 1:
        raise UsageError("buckets must be >= 1")
    return bucket_points(steps, values, buckets)


def job_metrics(
    store: JobStore,
    ref: str,
    *,
    names: list[str] | None = None,
    buckets: int = 1000,
    start: int | None = None,
    end: int | None = None,
) -> dict[str, Any]:
    """Each metric of a job between steps START..END, downsampled to BUCKETS buckets."""
    from bisect import bisect_left, bisect_right

    from tether.store import metric_columns as columns

    if buckets < 1:
        raise UsageError("buckets must be >= 1")
    job = find_job(store, ref)
    job_dir = Path(job.job_dir)
    out: dict[str, Any] = {}
    if columns.has_columns(job_dir):  # O(buckets) reads whatever the number of points
        for name in columns.names(job_dir):
            if not names or name in names:
                found = columns.buckets(job_dir, name, start, end, min(buckets, 4000))
                out[name] = {k: v for k, v in found.items() if k != "time"}
        return {"uuid": job.uuid, "number": job.number, "metrics": out}
    series = parsed_series(job_dir)

    for name, (steps, values) in series.items():
        if names and name not in names:
            continue
        if any(b < a for a, b in pairwise(steps)):  # out of order: sort (rare)
            pairs = sorted(zip(steps, values, strict=True), key=lambda p: p[0])
            steps, values = [p[0] for p in pairs], [p[1] for p in pairs]
        i = 0 if start is None else bisect_left(steps, start)
        j = len(steps) if end is None else bisect_right(steps, end)
        out[name] = downsample(steps[i:j], values[i:j], min(buckets, 4000))
    return {"uuid": job.uuid, "number": job.number, "metrics": out}


# metrics file -> (bytes parsed, its series): a live chart re-reads only the new lines
Columns = tuple[list[int], list[float]]
_SERIES: dict[Path, tuple[int, dict[str, Columns]]] = {}


def parsed_series(job_dir: Path) -> dict[str, Columns]:
    """Every metric point of a job, parsing only what was appended since the last call."""
    from tether.runtime.context import METRICS_FILE
    from tether.store.metrics import parse_lines

    path = job_dir / METRICS_FILE
    done, series = _SERIES.get(path, (0, {}))
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() < done:  # rewritten: start again
                done, series = 0, {}
            f.seek(done)
            data = f.read()
    except OSError:
        return {}
    cut = data.rfind(b"\n") + 1  # complete lines only; a torn last line waits
    if cut:
        new: dict[str, list[tuple[int, float]]] = {}
        parse_lines(data[:cut].splitlines(), new)
        series = dict(series)  # a reader in another thread keeps its own lists
        for name, points in new.items():
            old_steps, old_values = series.get(name, ([], []))
            series[name] = (old_steps + [p[0] for p in points], old_values + [p[1] for p in points])
        if len(_SERIES) > 64:
            _SERIES.clear()
        _SERIES[path] = (done + cut, series)
    return series


def job_scalars(store: JobStore, job: Job) -> Metrics:
    """JOB's reported metrics, read from its folder (a cluster's files copied here first):
    ``.summary()`` gives each one's last, min, max and count, ``.series`` its values (thinned
    to a few hundred points when the job has a column store)."""
    from tether.backends import backend_for
    from tether.store.metrics import read_scalars

    backend_for(job).files_here(store, job)
    return read_scalars(Path(job.job_dir))
