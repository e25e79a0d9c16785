"""A job's resource use as the supervisor sampled it (``sys.jsonl``): peaks and means."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SYS_FILE = "sys.jsonl"


@dataclass
class Usage:
    """``sys/`` metrics of one job: latest, peak and mean of each, and the sample count."""

    latest: dict[str, float]
    peak: dict[str, float]
    mean: dict[str, float]
    samples: int

    def to_json(self) -> dict[str, object]:
        return {"latest": self.latest, "peak": self.peak, "mean": self.mean,
                "samples": self.samples}  # fmt: skip


def read_usage(job_dir: Path) -> Usage | None:
    """The job's sampled usage, or None when nothing was sampled (yet)."""
    try:
        lines = (job_dir / SYS_FILE).read_bytes().splitlines()
    except OSError:
        return None
    series: dict[str, list[float]] = {}
    for line in lines:
        try:
            values = json.loads(line)["values"]
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line
        for name, value in values.items():
            if isinstance(value, (int, float)):
                series.setdefault(name, []).append(float(value))
    if not series:
        return None
    return Usage(
        latest={k: v[-1] for k, v in series.items()},
        peak={k: max(v) for k, v in series.items()},
        mean={k: round(sum(v) / len(v), 1) for k, v in series.items()},
        samples=max(len(v) for v in series.values()),
    )
