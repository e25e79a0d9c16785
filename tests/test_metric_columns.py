"""The metric column store (issue 28): same buckets as ``downsample``, bounded reads whatever
the number of points, restarts, torn records, and the real runtime writing it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.api.metrics import downsample
from tether.runtime.columns import COLUMNS_DIR, FANOUT, RAW, column_path
from tether.store import metric_columns as mc
from tether.store.metrics import MetricSummary, read_metrics, read_scalars

NAN, INF = math.nan, math.inf


def _points(n: int, name: str = "loss") -> list[tuple[int, float, dict[str, float | None]]]:
    """N points with NaN, +/-inf and spikes sprinkled in, steps 0, 2, 4, ..."""
    out: list[tuple[int, float, dict[str, float | None]]] = []
    for i in range(n):
        value = math.sin(i / 50) + (i % 97) / 97
        if i % 131 == 5:
            value = NAN
        elif i % 577 == 3:
            value = INF if i % 2 else -INF
        out.append((2 * i, 1.7e9 + i, {name: value}))
    return out


def _same(a: object, b: object) -> bool:
    """Equality where NaN equals NaN."""
    return json.dumps(a) == json.dumps(b)


def _write(job_dir: Path, n: int, batch: int = 100_000) -> None:
    writer = mc.ColumnWriter(job_dir)
    for start in range(0, n, batch):
        writer.append(
            [(i, 0.0, {"x": float(i % 1000)}) for i in range(start, min(n, start + batch))]
        )


def _reference(points: list, start: int | None, end: int | None, buckets: int) -> dict:
    steps = [s for s, _, v in points if (start is None or s >= start) and (end is None or s <= end)]
    values = [v["loss"] for s, _, v in points if s in set(steps)]
    return downsample(steps, values, buckets)


def _without_time(out: dict) -> dict:
    return {k: v for k, v in out.items() if k != "time"}


def _nan_min(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return min(clean) if clean else NAN


@pytest.mark.parametrize("buckets", [10, 100, 400, 1000, 5000])
@pytest.mark.parametrize("window", [(None, None), (100, 3001), (7, 7), (9000, None), (-5, 20)])
def test_buckets_match_downsample(tmp_path: Path, buckets: int, window: tuple) -> None:
    points = _points(5000)
    writer = mc.ColumnWriter(tmp_path)
    for i in range(0, len(points), 333):
        writer.append(points[i : i + 333])
    got = mc.buckets(tmp_path, "loss", *window, buckets=buckets)
    want = _reference(points, *window, buckets)
    assert got["points"] == want["points"] and len(got["time"]) == got["sent"]
    if want["points"] < FANOUT * buckets:  # the raw column is read: exactly downsample
        assert _same(_without_time(got), want)
        return
    # whole pyramid blocks: bucket edges move to block edges; totals and the last point hold
    assert got["sent"] <= buckets and got["step"][-1] == want["step"][-1]
    assert _same(got["last"][-1], want["last"][-1])
    assert _same(_nan_min(got["min"]), _nan_min(want["min"]))
    assert _same(-_nan_min([-v for v in got["max"]]), -_nan_min([-v for v in want["max"]]))
    assert got["step"] == sorted(got["step"])


def test_downsample_leaves_nan_out_of_min_and_max() -> None:
    out = downsample(list(range(80)), [NAN] * 40 + [1.0, 2.0] * 20, 2)
    assert _same(out["min"], [NAN, 1.0]) and _same(out["max"], [NAN, 2.0])


def _files(job_dir: Path) -> dict[str, bytes]:
    folder = job_dir / COLUMNS_DIR
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".lock"}


def test_a_reopened_writer_continues_as_one_writer(tmp_path: Path) -> None:
    points = _points(3000)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    mc.ColumnWriter(one).append(points)
    first = mc.ColumnWriter(two)
    for i in range(0, 1500, 7):
        first.append(points[i : min(i + 7, 1500)])
    start = 1500
    for size in (1, 250, 1249):  # a restart: a new writer, state from the files' tails
        mc.ColumnWriter(two).append(points[start : start + size])
        start += size
    assert _files(one) == _files(two)
    assert mc.summary(two, "loss") == mc.summary(one, "loss")


def test_a_torn_record_is_ignored_then_cut(tmp_path: Path) -> None:
    points = _points(1000)
    clean = tmp_path / "clean"
    clean.mkdir()
    mc.ColumnWriter(clean).append(points)
    mc.ColumnWriter(tmp_path).append(points[:600])
    with open(column_path(tmp_path / COLUMNS_DIR, "loss"), "ab") as f:
        f.write(b"\x01" * (RAW.size - 5))  # a record cut by a crash
    summary = mc.summary(tmp_path, "loss")
    assert summary is not None and summary.count == 600 and summary.last_step == 2 * 599
    assert mc.buckets(tmp_path, "loss", buckets=10_000)["points"] == 600
    mc.ColumnWriter(tmp_path).append(points[600:])
    assert _files(tmp_path) == _files(clean)


def test_steps_going_back_fall_back_to_a_full_sorted_read(tmp_path: Path) -> None:
    points = [(s, float(s), {"loss": float(s % 7)}) for s in [*range(100, 200), *range(0, 100)]]
    mc.ColumnWriter(tmp_path).append(points)
    ordered = sorted(points, key=lambda p: p[0])
    for window in [(None, None), (50, 150)]:
        got = mc.buckets(tmp_path, "loss", *window, buckets=20)
        assert _same(_without_time(got), _reference(ordered, *window, 20))


def test_names_are_kept_in_order_and_safe_on_disk(tmp_path: Path) -> None:
    weird = ["train/loss", "..", "ü val %", "sys/gpu0 mem"]
    mc.ColumnWriter(tmp_path).append([(0, 0.0, {n: 1.0 for n in weird}), (1, 0.0, {"a": None})])
    assert mc.names(tmp_path) == weird and mc.has_columns(tmp_path)
    on_disk = [p.name for p in (tmp_path / COLUMNS_DIR).iterdir()]
    assert all("/" not in n and not n.startswith("..") for n in on_disk)
    assert mc.summary(tmp_path, "ü val %") == MetricSummary(1.0, 0, 1.0, 1.0, 1)


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes read by os.pread since the fixture (or the last clear)."""
    count: list[int] = []
    real = os.pread

    def counting(fd: int, n: int, offset: int) -> bytes:
        data = real(fd, n, offset)
        count.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", counting)
    return count


def test_a_bucketed_read_touches_the_same_bytes_for_10k_and_1m_points(
    tmp_path: Path, bytes_read: list[int]
) -> None:
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir(), big.mkdir()
    _write(small, 10_000)
    _write(big, 1_000_000)
    reads = {}
    for name, folder in (("small", small), ("big", big)):
        bytes_read.clear()
        out = mc.buckets(folder, "x", buckets=1000)
        reads[name] = sum(bytes_read)
        assert out["sent"] <= 1000 and out["max"][-1] == 999.0 and min(out["min"]) == 0.0
    assert out["points"] == 1_000_000 and out["step"][-1] == 999_999
    assert reads["big"] < 2 * reads["small"] < 1_000_000, reads
    bytes_read.clear()
    mc.buckets(big, "x", start=500_000, end=600_000, buckets=1000)
    assert sum(bytes_read) < 2 * reads["small"]
    bytes_read.clear()
    summary = mc.summary(big, "x")
    assert summary == MetricSummary(999.0, 999_999, 0.0, 999.0, 1_000_000)
    assert sum(bytes_read) < 5 * 2 * 16 * 56  # O(levels) records: < 2 * FANOUT per level


SCRIPT = """
import tether
for i in range(700):
    tether.report(loss=1.0 / (i + 1), acc=(float("nan") if i == 3 else i / 700))
    if i == 350:
        tether.flush()
tether.report(step=1000, lr=0.1, note="not a number")
"""


def test_the_runtime_writes_columns_matching_its_jsonl(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "TETHER_JOB_DIR": str(tmp_path), "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=60)
    metrics = read_metrics(tmp_path)
    assert mc.names(tmp_path) == list(metrics.series) == ["loss", "acc", "lr"]
    fast = {k: s.to_json() for k, s in read_scalars(tmp_path).summary().items()}
    assert _same(fast, {k: s.to_json() for k, s in metrics.summary().items()})
    for name, want in metrics.summary().items():
        got = mc.summary(tmp_path, name)
        assert got is not None and _same(got.to_json(), want.to_json())
        steps = [s for s, _ in metrics.series[name]]
        values = [v for _, v in metrics.series[name]]
        got_buckets = _without_time(mc.buckets(tmp_path, name, buckets=50))
        if len(steps) < 16 * 50:
            assert _same(got_buckets, downsample(steps, values, 50))


def test_a_jobs_end_and_show_read_summaries_from_the_store(tmp_path: Path) -> None:
    """The agent's summary at a job's end, ``show``, Slurm's copy-back and notifications read
    the column store: a 200,000-point metrics.jsonl is not parsed (it is not even opened)."""
    from tether.store.metrics import read_summaries

    points = [(s, 1.7e9 + s, {"loss": 1.0 / (s + 1), "acc": s / 200_000}) for s in range(200_000)]
    mc.ColumnWriter(tmp_path).append(points)
    (tmp_path / "metrics.jsonl").write_text("not read\n")
    opened: list[str] = []

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and str(args[0]).endswith("metrics.jsonl"):
            opened.append(str(args[0]))

    sys.addaudithook(audit)
    summaries = read_summaries(tmp_path)
    scalars = read_scalars(tmp_path, points=400)
    assert not opened
    assert summaries["loss"].to_json() == {
        "last": 1.0 / 200_000, "step": 199_999, "min": 1.0 / 200_000, "max": 1.0, "count": 200_000
    }  # fmt: skip
    assert summaries["acc"].max == 199_999 / 200_000
    assert len(scalars.series["loss"]) <= 1200 and scalars.series["loss"][-1][0] == 199_999
