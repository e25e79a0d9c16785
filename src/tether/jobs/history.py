"""The attempts of one program, side by side: what changed and how each did."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


Refresher = Callable[[JobStore, Sequence[Job]], list[Job]]


def attempts(
    store: JobStore,
    *,
    script: str | None = None,
    sweep: str | None = None,
    refresh: Refresher | None = None,
) -> list[Attempt]:
    """Every job of ``script`` (its original path) or of a sweep, oldest first, each as
    ``refresh`` (e.g. :func:`tether.backends.refresh_many`) says it is now."""
    from tether.jobs.views import latest_metrics

    jobs = []
    for job in store.jobs():
        if sweep is not None and job.extra.get("sweep") != sweep:
            continue
        if script is not None and job.extra.get("original", job.script) != script:
            continue
        jobs.append(job)
    if refresh is not None:
        jobs = refresh(store, jobs)
    if not jobs:
        return []
    rows = []
    for job in jobs:
        rows.append(Attempt(job, changed_from_file(store, job), latest_metrics(job)))
    return rows


def changed_from_file(store: JobStore, job: Job) -> dict[str, object]:
    """The job's parameters whose value differs from the file it started from (every
    parameter when that file's values are unknown)."""
    from tether.tuning.program import file_values

    params = job.extra.get("params") or {}
    base = file_values(store.home, job.extra)
    if base is None:
        return dict(params)
    return {k: v for k, v in params.items() if k not in base or not _same(base[k], v)}


def _same(a: object, b: object) -> bool:
    """Equal values of the same type (``1`` differs from ``1.0`` and ``True``)."""
    return type(a) is type(b) and a == b


def best(rows: list[Attempt], metric: str, *, minimize: bool) -> Attempt | None:
    """The attempt with the highest (or lowest) final ``metric``."""
    scored = [r for r in rows if metric in r.final]
    if not scored:
        return None
    pick = min if minimize else max
    return pick(scored, key=lambda r: r.final[metric])
