"""Waiting by looking again, for backends that can say how their jobs are now (the agent's
records, a Slurm poll): a job's log followed until it has ended, and each job looked at until
it has ended and its retry is decided."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tether.jobs import logs
from tether.jobs.retry import retry_coming
from tether.store.jobs import Job, JobStore

Refresh = Callable[[JobStore, Sequence[Job]], list[Job]]


def follow_file(store: JobStore, job: Job, start: int, refresh: Refresh) -> Iterator[bytes]:
    """The job's log here from byte ``start`` on, live, until ``refresh`` says it ended."""
    number = job.number

    def finished() -> bool:
        return refresh(store, [store.get(number)])[0].finished

    yield from logs.follow(Path(job.log_path), start=start, is_done=finished)


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
