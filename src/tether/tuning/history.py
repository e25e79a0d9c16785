"""The attempts of one program, side by side: what changed and how each did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.store.jobs import Job, JobStore


@dataclass
class Attempt:
    """One row of ``tether history``."""

    job: Job
    changed: dict[str, object]
    final: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.job.number,
            "name": self.job.name,
            "status": self.job.status,
            "created": self.job.to_json()["created"],
            "runtime": self.job.runtime,
            "params": self.job.extra.get("params") or {},
            "changed": self.changed,
            "metrics": self.final,
            "sweep": self.job.extra.get("sweep"),
            "parent": self.job.parent,
        }


def attempts(
    store: JobStore, *, script: str | None = None, sweep: str | None = None
) -> list[Attempt]:
    """Every job of ``script`` (its original path) or of a sweep, oldest first."""
    from tether.jobs.lifecycle import refresh
    from tether.jobs.views import latest_metrics

    jobs = []
    for job in store.jobs():
        if sweep is not None and job.extra.get("sweep") != sweep:
            continue
        if script is not None and job.extra.get("original", job.script) != script:
            continue
        jobs.append(refresh(store, job))
    if not jobs:
        return []
    first = jobs[0].extra.get("params") or {}
    rows = []
    for job in jobs:
        params = job.extra.get("params") or {}
        changed = {
            k: v for k, v in params.items() if k not in first or first[k] != v or job is jobs[0]
        }
        rows.append(Attempt(job, changed, latest_metrics(job)))
    return rows


def best(rows: list[Attempt], metric: str, *, minimize: bool) -> Attempt | None:
    """The attempt with the highest (or lowest) final ``metric``."""
    scored = [r for r in rows if metric in r.final]
    if not scored:
        return None
    pick = min if minimize else max
    return pick(scored, key=lambda r: r.final[metric])
