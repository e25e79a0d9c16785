"""Waiting by looking again: each job of a backend that can say how its jobs are now (the
agent's records, a Slurm poll) is looked at until it has ended and its retry is decided."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from tether.jobs.retry import retry_coming
from tether.store.jobs import Job, JobStore

Refresh = Callable[[JobStore, Sequence[Job]], list[Job]]


def poll_endings(
    store: JobStore, numbers: Sequence[int], refresh: Refresh
) -> Iterator[tuple[Job, Job | None]]:
    """Each job of ``numbers`` as it ends, with its next attempt when ``--retry`` queued one
    (that attempt is then followed the same way); stops when all have ended for good."""
    pending = list(numbers)
    delay = 0.01
    while pending:
        still = []
        for job in refresh(store, [store.get(n) for n in pending]):
            if not job.finished or retry_coming(job):
                still.append(job.number)
                continue
            nxt = int(job.extra.get("retried_by") or 0)
            yield job, store.get(nxt) if nxt else None
            if nxt:
                still.append(nxt)
        if still == pending:
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        pending = still
