"""Reading a job's metrics (``metrics.jsonl``, written by ``tether.report``) and events."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.runtime.context import EVENTS_FILE, METRICS_FILE


@dataclass
class MetricSummary:
    """Latest, min and max of one metric, and how many points it has."""

    last: float | None = None
    last_step: int = 0
    min: float | None = None
    max: float | None = None
    count: int = 0

    def add(self, step: int, value: float | None) -> None:
        if value is None:
            return
        self.last, self.last_step = value, step
        if value == value:  # NaN takes no part in min and max; +/-inf does
            self.min = value if self.min is None else min(self.min, value)
            self.max = value if self.max is None else max(self.max, value)
        self.count += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "last": self.last,
            "step": self.last_step,
            "min": self.min,
            "max": self.max,
            "count": self.count,
        }


@dataclass
class Metrics:
    """All points of a job's metrics: name -> [(step, value)]."""

    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def summary(self) -> dict[str, MetricSummary]:
        out: dict[str, MetricSummary] = {}
        for name, points in self.series.items():
            summary = out.setdefault(name, MetricSummary())
            for step, value in points:
                summary.add(step, value)
        return out

    def latest(self) -> dict[str, float]:
        return {name: pts[-1][1] for name, pts in self.series.items() if pts}


def parse_lines(lines: list[bytes], into: dict[str, list[tuple[int, float]]]) -> None:
    """Add the points of metrics-file LINES to INTO (bad or torn lines are skipped)."""
    for line in lines:
        try:
            record = json.loads(line)
            step = int(record["step"])
            values = record["values"]
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line or garbage: skip it, keep the rest
        for name, value in values.items():
            if isinstance(value, (int, float)):
                into.setdefault(name, []).append((step, float(value)))


def read_metrics(job_dir: Path) -> Metrics:
    """Every metric point of a job (empty when it reported none)."""
    series: dict[str, list[tuple[int, float]]] = {}
    try:
        with open(job_dir / METRICS_FILE, "rb") as f:
            parse_lines(f.read().splitlines(), series)
    except OSError:
        pass
    return Metrics(series)


@dataclass
class Scalars(Metrics):
    """Metrics read from the column store: exact summaries, and a thinned series (the last
    value of each step bucket) for sparklines."""

    summaries: dict[str, MetricSummary] = field(default_factory=dict)

    def summary(self) -> dict[str, MetricSummary]:
        return dict(self.summaries)


def read_scalars(job_dir: Path, points: int = 256) -> Metrics:
    """Each metric's summary and up to POINTS*3 of its points: from the column store in
    O(levels + POINTS) reads when the job has one (issue 28), else parsing metrics.jsonl."""
    from tether.store import metric_columns as columns

    if not columns.has_columns(job_dir):
        return read_metrics(job_dir)
    summaries = read_summaries(job_dir)
    series: dict[str, list[tuple[int, float]]] = {}
    for name in summaries:
        thinned = columns.buckets(job_dir, name, buckets=points)
        series[name] = list(zip(thinned["step"], thinned["last"], strict=True))
    return Scalars(series, summaries)


def read_summaries(job_dir: Path) -> dict[str, MetricSummary]:
    """Each metric's last, min, max and count: from the column store in O(levels) reads
    when the job has one, else parsing metrics.jsonl (a job's end, ``show``)."""
    from tether.store import metric_columns as columns

    if not columns.has_columns(job_dir):
        return read_metrics(job_dir).summary()
    out: dict[str, MetricSummary] = {}
    for name in columns.names(job_dir):
        found = columns.summary(job_dir, name)
        if found is not None:
            out[name] = found
    return out


def read_latest(job_dir: Path, tail_bytes: int = 65536) -> dict[str, float]:
    """The latest value of each metric seen in the last ``tail_bytes`` of the file (cheap)."""
    try:
        with open(job_dir / METRICS_FILE, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - tail_bytes))
            data = f.read()
    except OSError:
        return {}
    lines = data.splitlines()
    if size > tail_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    series: dict[str, list[tuple[int, float]]] = {}
    parse_lines(lines, series)
    return Metrics(series).latest()


def read_events(job_dir: Path) -> list[dict[str, Any]]:
    """Messages and condition events the program recorded, oldest first."""
    events = []
    try:
        with open(job_dir / EVENTS_FILE, "rb") as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    events.append(event)
    except OSError:
        pass
    return events
