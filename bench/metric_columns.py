"""A 1M-point metric read two ways (issue 28): the column store (``tether scalars``' summary
and thinned series, the dashboard's 1000-bucket read) against parsing ``metrics.jsonl``.

Goal: ``scalars`` of a 1M-point metric <= 300 ms (it was 7.3 s parsing the jsonl).
Run: ``.venv/bin/python bench/metric_columns.py [POINTS]``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from tether.api.metrics import downsample
from tether.store import metric_columns as columns
from tether.store.metrics import read_metrics, read_scalars


def build(job_dir: Path, points: int) -> float:
    """Write POINTS points of ``loss`` to both stores; the column store's write time."""
    rows = [(i, 1.7e9 + i, {"loss": 1.0 / (i + 1)}) for i in range(points)]
    with open(job_dir / "metrics.jsonl", "w") as out:
        for step, when, values in rows:
            out.write(json.dumps({"step": step, "time": when, "values": values}) + "\n")
    start = time.perf_counter()
    writer = columns.ColumnWriter(job_dir)
    for i in range(0, points, 5000):  # ~ one flush's worth at 10k reports a second
        writer.append(rows[i : i + 5000])  # type: ignore[arg-type]
    return time.perf_counter() - start


def timed(label: str, fn: object) -> None:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    print(f"{label:<44} {1000 * (time.perf_counter() - start):9.1f} ms")


def main() -> None:
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    job_dir = Path(tempfile.mkdtemp(prefix="tether-columns-"))
    print(f"{points:,} points; column store written in {build(job_dir, points):.2f} s")

    def jsonl_scalars() -> None:
        read_metrics(job_dir).summary()

    def jsonl_buckets() -> None:
        steps, values = zip(*read_metrics(job_dir).series["loss"], strict=True)
        downsample(list(steps), list(values), 1000)

    timed("scalars, parsing metrics.jsonl", jsonl_scalars)
    timed("scalars, column store (summary + 256 pts)", lambda: read_scalars(job_dir).summary())
    timed("1000 buckets, parsing metrics.jsonl", jsonl_buckets)
    timed("1000 buckets, column store", lambda: columns.buckets(job_dir, "loss", buckets=1000))
    timed("1000 buckets of steps 400k..500k, columns", lambda: columns.buckets(
        job_dir, "loss", start=400_000, end=500_000, buckets=1000))  # fmt: skip


if __name__ == "__main__":
    main()
