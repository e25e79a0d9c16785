"""Job dependencies: ``--after JOB[,JOB...]`` (start once they succeeded) and ``--after-any``
(once they ended, however). Kept in the job's ``extra["gate"]``; decided by the agent.

A dependency that failed but will be retried (``--retry``) is followed to its last attempt.
"""

from __future__ import annotations

from collections.abc import Iterable

from tether.errors import UsageError
from tether.jobs.status import CANCELLED, FINISHED, SUCCEEDED
from tether.store.jobs import Job, JobStore

READY, WAIT, BROKEN = "ready", "wait", "broken"


def parse_refs(texts: Iterable[str]) -> list[str]:
    """``("3,5", "train")`` -> ``["3", "5", "train"]``."""
    return [part.strip() for text in texts for part in text.split(",") if part.strip()]


def resolve(store: JobStore, refs: list[str], flag: str) -> list[int]:
    """Job numbers for ``refs``; an unknown job is refused with one line. The jobs named
    already exist and the new job does not, so no cycle can be made."""
    numbers: list[int] = []
    for ref in refs:
        try:
            job = store.resolve(ref)
        except Exception as exc:  # JobNotFound: say which flag it came from
            raise UsageError(f"{flag} {ref}: {exc}") from None
        if job.number not in numbers:
            numbers.append(job.number)
    return numbers


def gate(store: JobStore, after: Iterable[str], after_any: Iterable[str]) -> dict[str, list[int]]:
    """The ``extra["gate"]`` entries for the dependency flags (empty when none was given)."""
    out: dict[str, list[int]] = {}
    ok, any_ = parse_refs(after), parse_refs(after_any)
    if ok:
        out["after"] = resolve(store, ok, "--after")
    if any_:
        out["after_any"] = resolve(store, any_, "--after-any")
    return out


def last_attempt(store: JobStore, number: int) -> Job:
    """The job, or the newest retry of it."""
    job = store.get(number)
    seen = {job.number}
    while (nxt := job.extra.get("retried_by")) and nxt not in seen:
        seen.add(int(nxt))
        job = store.get(int(nxt))
    return job


def _settled(job: Job) -> bool:
    """Finished, and no retry of it is still to come."""
    if not job.finished:
        return False
    if job.status in (SUCCEEDED, CANCELLED) or "retry" not in job.extra:
        return True
    return job.extra.get("retried_by") == 0  # 0: the agent decided not to retry


def decide(store: JobStore, gate: dict[str, object]) -> tuple[str, str | None]:
    """(READY | WAIT | BROKEN, reason) for a queued job's dependencies."""
    for number in gate.get("after") or []:  # type: ignore[attr-defined]
        job = last_attempt(store, int(number))
        if not _settled(job):
            return WAIT, None
        if job.status != SUCCEEDED:
            return BROKEN, f"dependency #{number} {job.status}"
    for number in gate.get("after_any") or []:  # type: ignore[attr-defined]
        job = last_attempt(store, int(number))
        if not (_settled(job) and job.status in FINISHED):
            return WAIT, None
    return READY, None
