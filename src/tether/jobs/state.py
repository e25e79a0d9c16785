"""The job state model: the only code that changes a job's status.

::

    queued ──claim──▶ running ──▶ succeeded | failed | cancelled | lost
      │  ◀──requeue── (claimed, never started)
      └──▶ cancelled | failed | lost | succeeded (a remote job that ran between two looks)

Finished statuses are final. Every move is a compare-and-set in the store (``only if it is
still ...``), so two writers racing (the agent and a CLI call) record one outcome, and a move
this model does not allow raises :class:`~tether.errors.InvalidTransition`.
"""

from __future__ import annotations

import time
from typing import Any

from tether.errors import InvalidTransition
from tether.store.jobs import (
    CANCELLED,
    FAILED,
    FINISHED,
    LOST,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobStore,
    Status,
)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    QUEUED: frozenset({RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST}),
    RUNNING: frozenset({QUEUED, SUCCEEDED, FAILED, CANCELLED, LOST}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
    LOST: frozenset(),
}
"""Which status may follow which (running -> queued is the re-queue of a dropped claim)."""


def allowed(old: str, new: str) -> bool:
    """True if a job may move from status ``old`` to ``new``."""
    return Status(new) in TRANSITIONS[Status(old)]


def check(old: str, new: str) -> None:
    """Raise :class:`InvalidTransition` unless ``old -> new`` is allowed."""
    if not allowed(old, new):
        raise InvalidTransition(f"a job cannot go from {Status(old)} to {Status(new)}")


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
    if Status(status) not in FINISHED:
        raise InvalidTransition(f"{Status(status)} is not a finished status")
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
    if status not in Status._value2member_map_ or status == job.status:
        return False
    if not allowed(job.status, status):
        return False
    if Status(status) in FINISHED:
        return finish(
            store, job.number, status, exit_code=exit_code, reason=reason, expected=job.status
        )
    return store.set_status(
        job.number, status, only_if=job.status, exit_code=exit_code, reason=reason
    )


def exit_code_of(status: str, exit_code: int | None) -> int:
    """The one exit-code rule for a CLI waiting on a job: 0 when it succeeded, its own exit
    code when it failed with one, else 1 (cancelled, lost, killed without a code)."""
    if status == SUCCEEDED:
        return 0
    return exit_code if isinstance(exit_code, int) and exit_code > 0 else 1


__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "LOST",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "TRANSITIONS",
    "Status",
    "allowed",
    "cancel_queued",
    "check",
    "claim",
    "claim_next",
    "exit_code_of",
    "finish",
    "mirror",
    "requeue",
    "start",
]
