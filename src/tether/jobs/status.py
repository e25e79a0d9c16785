"""A job's status and the moves allowed between them: the state model, with no I/O.

::

    queued ──claim──▶ running ──▶ succeeded | failed | cancelled | lost
      │  ◀──requeue── (claimed, never started)
      └──▶ cancelled | failed | lost | succeeded (a remote job that ran between two looks)

Finished statuses are final. :mod:`tether.jobs.state` makes the moves in the store; the
store keeps each status as its lower-case value and knows nothing of this model.
"""

from __future__ import annotations

from enum import Enum

from tether.errors import InvalidTransition


class Status(str, Enum):
    """A job's status. Equal to (and stored as) its lower-case value."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


QUEUED = Status.QUEUED
RUNNING = Status.RUNNING
SUCCEEDED = Status.SUCCEEDED
FAILED = Status.FAILED
CANCELLED = Status.CANCELLED
LOST = Status.LOST
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, LOST})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    QUEUED: frozenset({RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST}),
    RUNNING: frozenset({QUEUED, SUCCEEDED, FAILED, CANCELLED, LOST}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
    LOST: frozenset(),
}
"""Which status may follow which (running -> queued is the re-queue of a dropped claim)."""


def is_status(value: str) -> bool:
    """True if ``value`` is one of the statuses."""
    return value in Status._value2member_map_


def allowed(old: str, new: str) -> bool:
    """True if a job may move from status ``old`` to ``new``."""
    return Status(new) in TRANSITIONS[Status(old)]


def check(old: str, new: str) -> None:
    """Raise :class:`InvalidTransition` unless ``old -> new`` is allowed."""
    if not allowed(old, new):
        raise InvalidTransition(f"a job cannot go from {Status(old)} to {Status(new)}")


def check_finished(status: str) -> None:
    """Raise :class:`InvalidTransition` unless ``status`` is a finished one."""
    if Status(status) not in FINISHED:
        raise InvalidTransition(f"{Status(status)} is not a finished status")


def exit_code_of(status: str, exit_code: int | None) -> int:
    """The one exit-code rule for a CLI waiting on a job: 0 when it succeeded, its own exit
    code when it failed with one, else 1 (cancelled, lost, killed without a code)."""
    if status == SUCCEEDED:
        return 0
    return exit_code if isinstance(exit_code, int) and exit_code > 0 else 1
