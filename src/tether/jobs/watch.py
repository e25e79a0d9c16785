"""Waiting for jobs and following their output until they finish."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from tether.errors import TetherError
from tether.jobs import logs
from tether.jobs.lifecycle import refresh, refresh_many
from tether.store.jobs import Job, JobStore


def follow_job(store: JobStore, number: int, start: int = 0) -> Iterator[bytes]:
    """The job's output from byte ``start`` on, live, until the job has finished."""
    job = store.get(number)
    if job.extra.get("slurm_local") is False:  # a Slurm job whose output is on the cluster
        from tether.targets.slurm.output import follow_remote_job

        yield from follow_remote_job(store, job, start)
        return

    def finished() -> bool:
        nonlocal job
        job = refresh(store, store.get(number))
        return job.finished

    yield from logs.follow(Path(job.log_path), start=start, is_done=finished)


def wait_for(store: JobStore, numbers: list[int], timeout: float | None = None) -> list[Job]:
    """Block until every job in ``numbers`` has finished; returns them."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.01
    pending = set(numbers)
    while True:
        # one query for the unfinished ones; a result that landed is recorded by refresh()
        current = refresh_many(store, store.unfinished(pending))
        pending = {j.number for j in current if not j.finished}
        if not pending:
            return [store.get(n) for n in numbers]
        if deadline is not None and time.monotonic() > deadline:
            raise TetherError(
                f"timed out after {timeout:g} s; still running: "
                + ", ".join(f"#{n}" for n in sorted(pending))
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def exit_code_of(job: Job) -> int:
    """The exit code a CLI waiting on ``job`` should exit with (:func:`state.exit_code_of`)."""
    from tether.jobs import state

    return state.exit_code_of(job.status, job.exit_code)
