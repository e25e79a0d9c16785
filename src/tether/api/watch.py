"""Waiting for jobs and following their output until they finish."""

from __future__ import annotations

import time
from collections.abc import Iterator

from tether.backends import backend_for, refresh_many
from tether.errors import WaitTimeout
from tether.jobs.retry import retry_coming
from tether.store.jobs import Job, JobStore


def follow_job(store: JobStore, number: int, start: int = 0) -> Iterator[bytes]:
    """The job's output from byte ``start`` on, live, until the job has finished."""
    job = store.get(number)
    yield from backend_for(job).follow(store, job, start)


def wait_for(
    store: JobStore,
    numbers: list[int],
    timeout: float | None = None,
    *,
    follow_retries: bool = True,
) -> list[Job]:
    """Block until every job in ``numbers`` has finished; returns them. A job run with
    ``--retry`` is followed to its last attempt, which is returned in its place."""
    from tether.jobs.depends import last_attempt

    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    delay = 0.01
    while True:
        heads = [last_attempt(store, n) if follow_retries else store.get(n) for n in numbers]
        # one query for the unfinished ones; a result that landed is recorded by refresh()
        current = refresh_many(store, store.unfinished({j.number for j in heads}), fresh=True)
        pending = {j.number for j in current if not j.finished}
        if not pending:
            finals = [store.get(j.number) for j in heads]
            coming = {j.number for j in finals if follow_retries and retry_coming(j)}
            if not coming:
                return finals
            pending = coming
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(
                f"timed out after {timeout:g} s; still running: "
                + ", ".join(f"#{n}" for n in sorted(pending))
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2 if time.monotonic() - started < 30 else 1.0)


def exit_code_of(job: Job) -> int:
    """The exit code a CLI waiting on ``job`` should exit with (the rule of
    :func:`tether.jobs.status.exit_code_of`)."""
    from tether.jobs import status

    return status.exit_code_of(job.status, job.exit_code)
