"""A Slurm job's output when the job runs in laptop mode (its folder is on the cluster).

The folder is copied here (rsync: only what grew) before reading, so ``logs`` with
``--tail``/``--grep`` and ``scalars`` read local files; ``logs -f`` copies again about once
a second until the job ends. In local mode the job's folder is its local folder: nothing
to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from tether.jobs import logs
from tether.store.jobs import Job, JobStore

FETCH_EVERY = 1.0


def is_remote_output(job: Job) -> bool:
    """Whether ``job`` writes its output on a cluster reached over ssh."""
    return job.slurm_id is not None and job.extra.get("slurm_local") is False


def bring_here(job: Job) -> None:
    """Copy the job's folder from the cluster (output, metrics, events) unless it ended."""
    from tether.targets.slurm.tracking import fetch_files

    if is_remote_output(job) and not job.finished:
        fetch_files(job)


def follow_remote_job(store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
    """The output from byte ``start`` on, copied from the cluster, until the job ends."""
    from tether.targets.slurm.tracking import fetch_files, refresh_jobs

    last_fetch = 0.0

    def finished() -> bool:
        nonlocal job, last_fetch
        [job] = refresh_jobs(store, [store.get(job.number)])
        if job.finished:  # its files were copied when its end was recorded
            return True
        if time.monotonic() - last_fetch >= FETCH_EVERY:
            fetch_files(job)
            last_fetch = time.monotonic()
        return False

    yield from logs.follow(Path(job.log_path), start=start, is_done=finished, poll=0.2)
