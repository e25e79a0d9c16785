"""The moves of the state model (:mod:`tether.jobs.status`) made in the store: the only code
that changes a job's status.

Every move is a compare-and-set in the store (``only if it is still ...``), so two writers
racing (the agent and a CLI call) record one outcome, and a move the model does not allow
raises :class:`~tether.errors.InvalidTransition`.
"""

from __future__ import annotations

import time
from typing import Any

from tether.jobs.status import (
    CANCELLED,
    FINISHED,
    QUEUED,
    RUNNING,
    allowed,
    check,
    check_finished,
    is_status,
)
from tether.store.jobs import Job, JobStore


def claim_next(store: JobStore, target: str = "local") -> Job | None:
    """queued -> running for the oldest queued job of ``target`` (FIFO); None if there is none."""
    return store.claim_next(target)


def claim(store: JobStore, number: int, *, held_gpus: list[int] | None = None) -> Job | None:
    """queued -> running for the job the agent chose to start (with the GPUs it will hold);
    None when the job is no longer queued (cancelled meanwhile)."""
    if not store.set_status(number, RUNNING, only_if=QUEUED, started=time.time(), reason=None):
        return None
    if held_gpus:
        store.merge_extra(number, gpu_held=held_gpus)
    return store.get(number)


def requeue(store: JobStore, job: Job) -> bool:
    """running -> queued for a job claimed by an agent that died before starting it."""
    check(job.status, QUEUED)
    return store.set_status(job.number, QUEUED, only_if=RUNNING, started=None)


def start(
    store: JobStore, job: Job, *, reason: str | None = None, started: float | None = None
) -> bool:
    """queued -> running for a job some other place started (e.g. Slurm)."""
    check(job.status, RUNNING)
    when = started or job.started or time.time()
    return store.set_status(job.number, RUNNING, only_if=job.status, reason=reason, started=when)


def finish(
    store: JobStore,
    number: int,
    status: str,
    *,
    exit_code: int | None,
    reason: str | None = None,
    ended: float | None = None,
    expected: str = RUNNING,
    **more: Any,
) -> bool:
    """``expected`` -> a finished ``status``, with its exit code, reason and end time (and any
    ``more`` columns); False when the job is no longer ``expected`` (someone else recorded it)."""
    check_finished(status)
    check(expected, status)
    return store.set_status(
        number,
        status,
        only_if=expected,
        exit_code=exit_code,
        reason=reason,
        ended=ended or time.time(),
        **more,
    )


def cancel_queued(store: JobStore, number: int) -> bool:
    """queued -> cancelled; False when the job has already started."""
    return finish(store, number, CANCELLED, exit_code=None, reason="cancelled", expected=QUEUED)


def mirror(
    store: JobStore, job: Job, status: str, *, exit_code: int | None, reason: str | None
) -> bool:
    """Copy a remote job's status into its local record, when the model allows the move
    (a finished record stays as it is); True if anything was written."""
    if not is_status(status) or status == job.status:
        return False
    if not allowed(job.status, status):
        return False
    if status in FINISHED:
        return finish(
            store, job.number, status, exit_code=exit_code, reason=reason, expected=job.status
        )
    return store.set_status(
        job.number, status, only_if=job.status, exit_code=exit_code, reason=reason
    )
