"""A job's resource use as the supervisor sampled it (``sys.jsonl``): peaks and means.

Each line is one sample, ``{"step", "time", "values": {"sys/cpu_pct": ..., ...}}``, or, once
the file has been compacted, the merge of ``n`` neighbouring samples: ``values`` then holds
their means and ``peak`` their maxima. Compaction keeps the last :data:`KEEP_RECENT` samples at
full rate and halves the resolution of everything older whenever the file reaches
:data:`MAX_LINES` lines, so a job of any length has a file of bounded size (about 1 MB) whose
peaks and means stay exact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYS_FILE = "sys.jsonl"
MAX_LINES = 6000
KEEP_RECENT = 1800

# The names of the figures (``sys/...``), for the readers.
CPU = "sys/cpu_pct"  # 100 = one core
MEM = "sys/mem_mb"  # PSS over the process tree
OLD_MEM = "sys/rss_mb"  # files written before PSS: an RSS sum
PROCS = "sys/procs"
GPU_MEM = "sys/gpu_mem_mb"  # memory the tree's processes hold on GPUs
GPU_UTIL = "sys/gpu_util_pct"  # utilisation of the GPUs they are on


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

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        """The figures of ``to_json`` (as a host's ``show --json`` sends them); None for
        none or a shape this version does not know."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                latest={str(k): float(v) for k, v in (data.get("latest") or {}).items()},
                peak={str(k): float(v) for k, v in (data.get("peak") or {}).items()},
                mean={str(k): float(v) for k, v in (data.get("mean") or {}).items()},
                samples=int(data.get("samples") or 0),
            )
        except (AttributeError, TypeError, ValueError):
            return None

    def memory(self, which: str = "peak") -> float | None:
        """Memory in MB (PSS; an RSS sum for jobs sampled by older versions)."""
        figures = getattr(self, which)
        value = figures.get(MEM, figures.get(OLD_MEM))
        return None if value is None else float(value)

    def peaks_line(self) -> str:
        """``CPU 180%, memory 2.1 GB, GPU memory 10.2 GB, GPU 87%``: the peaks in words."""
        parts = []
        if CPU in self.peak:
            parts.append(f"CPU {self.peak[CPU]:.0f}%")
        memory = self.memory()
        if memory is not None:
            parts.append(f"memory {megabytes(memory)}")
        if GPU_MEM in self.peak:
            parts.append(f"GPU memory {megabytes(self.peak[GPU_MEM])}")
        if GPU_UTIL in self.peak:
            parts.append(f"GPU {self.peak[GPU_UTIL]:.0f}%")
        return ", ".join(parts)


def megabytes(value: float) -> str:
    """512 -> ``512 MB``; 2150 -> ``2.1 GB``."""
    return f"{value:.0f} MB" if value < 1000 else f"{value / 1024:.1f} GB"


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line
        if isinstance(record, dict) and isinstance(record.get("values"), dict):
            records.append(record)
    return records


def read_usage(job_dir: Path) -> Usage | None:
    """The job's sampled usage, or None when nothing was sampled (yet)."""
    total: dict[str, float] = {}
    weight: dict[str, int] = {}
    peak: dict[str, float] = {}
    latest: dict[str, float] = {}
    samples = 0
    for record in _records(job_dir / SYS_FILE):
        n = int(record.get("n") or 1)
        maxima = record.get("peak") or {}
        samples += n
        for name, value in record["values"].items():
            if not isinstance(value, (int, float)):
                continue
            total[name] = total.get(name, 0.0) + value * n
            weight[name] = weight.get(name, 0) + n
            top = maxima.get(name, value)
            peak[name] = max(peak.get(name, top), top)
            latest[name] = float(value)
    if not samples or not total:
        return None
    return Usage(
        latest=latest,
        peak=peak,
        mean={name: round(total[name] / weight[name], 1) for name in total},
        samples=samples,
    )


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One record standing for the samples of ``a`` and ``b`` (neighbours, ``a`` first)."""
    na, nb = int(a.get("n") or 1), int(b.get("n") or 1)
    values: dict[str, float] = {}
    peak: dict[str, float] = {}
    for name in {**a["values"], **b["values"]}:
        va, vb = a["values"].get(name), b["values"].get(name)
        if va is None or vb is None:  # a figure only one of them has
            only = b if va is None else a
            values[name] = only["values"][name]
            peak[name] = (only.get("peak") or {}).get(name, values[name])
            continue
        values[name] = round((va * na + vb * nb) / (na + nb), 2)
        peak[name] = max((a.get("peak") or {}).get(name, va), (b.get("peak") or {}).get(name, vb))
    return {"step": b.get("step"), "time": b.get("time"), "n": na + nb,
            "values": values, "peak": peak}  # fmt: skip


def compact(path: Path, max_lines: int = MAX_LINES, keep_recent: int = KEEP_RECENT) -> int:
    """Halve the resolution of all but the last ``keep_recent`` samples when the file has
    reached ``max_lines``; the number of lines it has then. Atomic: a reader sees the old
    file or the new one."""
    records = _records(path)
    if len(records) < max_lines:
        return len(records)
    old, recent = records[:-keep_recent], records[-keep_recent:]
    merged = [_merge(old[i], old[i + 1]) for i in range(0, len(old) - 1, 2)]
    if len(old) % 2:
        merged.append(old[-1])
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as out:
        out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in merged + recent)
    os.replace(tmp, path)
    return len(merged) + len(recent)
