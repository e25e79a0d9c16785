"""Waiting for jobs and following their output until they finish; how ``tether wait`` ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tether.backends import backend_for, refresh_many
from tether.errors import UsageError, WaitTimeout
from tether.jobs.retry import retry_coming
from tether.jobs.status import QUEUED, RUNNING
from tether.store.jobs import Job, JobStore

if TYPE_CHECKING:
    from tether.backends.ssh import RemoteJob

UNFINISHED = (QUEUED, RUNNING)


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
    # A job that has finished with no retry to come stays so: it is not read again (waiting
    # for thousands of jobs reads only those still to finish at each look).
    settled: dict[int, Job] = {}
    todo = list(dict.fromkeys(numbers))
    while True:
        # the statuses in one query; a job queued here is its own last attempt (a retry
        # follows an end) and is not read; a result that landed is recorded by refresh()
        status = store.statuses(todo)
        waiting = {n for n in todo if status.get(n) == (QUEUED, "local")}
        live = [n for n in todo if n not in waiting and status.get(n, ("",))[0] in UNFINISHED]
        current = refresh_many(store, store.unfinished(live), fresh=True)
        pending = waiting | {j.number for j in current if not j.finished}
        rest = [n for n in todo if n not in pending]
        heads = [last_attempt(store, n) if follow_retries else store.get(n) for n in rest]
        now = {j.number: j for j in refresh_many(store, heads, fresh=True)}
        for n, head in zip(rest, heads, strict=True):
            final = now.get(head.number, head)
            if not final.finished or (follow_retries and retry_coming(final)):
                pending.add(final.number)
            else:
                settled[n] = final
        todo = [n for n in todo if n not in settled]
        if not todo:
            return [settled[n] for n in numbers]
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(
                f"timed out after {timeout:g} s; still running: "
                + ", ".join(f"#{n}" for n in sorted(pending))
            )
        _sleep_until_ended(store, todo, delay)
        delay = min(delay * 1.5, 0.2 if time.monotonic() - started < 30 else 1.0)


def _sleep_until_ended(store: JobStore, numbers: list[int], seconds: float) -> None:
    """Sleep ``seconds``, or less: until the store records every one of ``numbers`` as
    ended. The statuses are read again only when another process (the agent, a job's
    supervisor) has committed a change, so the wait ends within a tick of the last job's
    end at little cost; what is not in the store (a job elsewhere, a dead supervisor) is
    looked at after ``seconds``."""
    tick = 0.01
    version = store.data_version()
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(tick, left))
        if (now := store.data_version()) == version:
            continue
        version = now
        if not any(status in UNFINISHED for status, _ in store.statuses(numbers).values()):
            return


def exit_code_of(job: Job) -> int:
    """The exit code a CLI waiting on ``job`` should exit with (the rule of
    :func:`tether.jobs.status.exit_code_of`)."""
    from tether.jobs import status

    return status.exit_code_of(job.status, job.exit_code)


@dataclass
class WaitOutcome:
    """How ``tether wait`` ends: its exit code, and why when it gave up (a timeout: 124)."""

    code: int
    message: str | None = None


def unfinished_here(store: JobStore) -> list[int]:
    """The jobs this machine waits for itself: queued, running, or failed with a retry due
    (not the records of jobs on SSH hosts, which their hosts wait for)."""
    from tether.backends.ssh import split_by_host
    from tether.jobs import retry

    numbers, _ = split_by_host(store.jobs(statuses=["queued", RUNNING]))
    return numbers + [j.number for j in retry.coming(store)]


def wait_for_exit(
    store: JobStore, ref: str | None, *, all_jobs: bool = False, timeout: float | None = None
) -> WaitOutcome:
    """Wait for JOB (None: the last one), or every queued, running or retrying job with
    ``all_jobs``, wherever they run; a job on an SSH host is waited for there (a wait
    request: the host follows its retries). The code is the job's exit code (``all_jobs``: 0
    when every job succeeded, else 1), 124 when the wait timed out."""
    from tether.api.jobs import find_job
    from tether.backends.ssh import remote_job, split_by_host

    outcomes: list[WaitOutcome] = []
    if all_jobs:
        if ref:
            raise UsageError("give JOB or --all, not both")
        _, on_hosts = split_by_host(store.jobs(statuses=["queued", RUNNING]))
        numbers = unfinished_here(store)
        outcomes = [_wait_on_host(job, timeout) for job in on_hosts]
        timed_out = [o for o in outcomes if o.code == 124]
        if timed_out:
            return timed_out[0]
    else:
        record = find_job(store, ref)
        forward = remote_job(record)
        if forward is not None:
            return _wait_on_host(forward, timeout)
        numbers = [record.number]
    try:
        jobs = wait_for(store, numbers, timeout)
    except WaitTimeout as exc:
        return WaitOutcome(exc.exit_code, str(exc))
    if all_jobs:
        succeeded = all(j.status == "succeeded" for j in jobs)
        return WaitOutcome(0 if succeeded and not any(o.code for o in outcomes) else 1)
    return WaitOutcome(exit_code_of(jobs[0]))


def _wait_on_host(job: RemoteJob, timeout: float | None) -> WaitOutcome:
    """Wait on the job's host (a wait request, which follows its retries there)."""
    from tether.backends.ssh import ask_host
    from tether.jobs import status

    try:
        args = {"jobs": [job.uuid], "timeout": timeout}
        [row] = ask_host(job.host, "wait", args, longer=timeout)
    except WaitTimeout:
        return WaitOutcome(124, f"timed out after {timeout:g} s; still running: "
                                f"#{job.local_number} (on {job.host})")  # fmt: skip
    return WaitOutcome(status.exit_code_of(row["status"], row.get("exit_code")))
