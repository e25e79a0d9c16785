"""Retries: ``--retry N [--retry-delay 30s] [--retry-on CODE,...]``.

A failed or lost attempt is queued again as a new job whose parent is the attempt before and
whose ``extra["retry"]`` says which attempt it is of how many; cancelled jobs are never retried.
"""

from __future__ import annotations

import time
from typing import Any

from tether.errors import UsageError
from tether.jobs.status import FAILED, LOST
from tether.store.jobs import Job, JobSpec, JobStore

# Belong to one attempt only.
_PER_ATTEMPT = ("metrics", "gpu_held", "retried_by", "token", "sys")


def options(retry: int | None, delay: str | None, on: str | None) -> dict[str, Any]:
    """The ``extra["retry"]`` entry for the flags (``{}`` when --retry was not given)."""
    if retry is None:
        if delay is not None or on is not None:
            raise UsageError("--retry-delay and --retry-on need --retry N")
        return {}
    if retry < 0:
        raise UsageError(f"--retry {retry}: give 0 or more")
    out: dict[str, Any] = {"max": retry, "attempt": 1}
    if delay is not None:
        from tether.config import parse_duration

        out["delay"] = parse_duration(delay, "--retry-delay", allow_zero=True)
    if on is not None:
        try:
            out["on"] = sorted({int(c) for c in on.split(",") if c.strip()})
        except ValueError:
            raise UsageError(f"--retry-on {on!r}: give exit codes like 1,137")
    return {"retry": out}


def label(extra: dict[str, Any]) -> str | None:
    """``attempt 2 of 3`` for a job run with --retry, else None."""
    retry = extra.get("retry")
    if not isinstance(retry, dict):
        return None
    return f"attempt {retry.get('attempt', 1)} of {int(retry.get('max', 0)) + 1}"


def wanted(job: Job) -> bool:
    """Should this finished attempt be tried again?"""
    retry = job.extra.get("retry") or {}
    if job.status not in (FAILED, LOST) or int(retry.get("attempt", 1)) > int(retry.get("max", 0)):
        return False
    codes = retry.get("on")
    return job.status == LOST or not codes or job.exit_code in codes


def retry_coming(job: Job) -> bool:
    """Has ``job`` ended in a way ``--retry`` will try again, with the next attempt not yet
    queued by the agent? (It sets ``retried_by``: the new job's number, or 0 for none.)"""
    return (
        job.finished
        and "retry" in job.extra
        and job.extra.get("retried_by") is None
        and wanted(job)
    )


def unseen(store: JobStore) -> list[Job]:
    """Failed or lost attempts of jobs run with ``--retry`` the agent has not looked at yet
    (it sets ``retried_by``: the next attempt's number, or 0 for none)."""
    return store.unseen_retries((FAILED, LOST))


def coming(store: JobStore) -> list[Job]:
    """Those attempts whose next attempt the agent is about to queue."""
    return [job for job in unseen(store) if wanted(job)]


def process(store: JobStore) -> list[Job]:
    """Queue the next attempt of every failed or lost job that asked for retries and has not
    been looked at yet; returns the new jobs."""
    new: list[Job] = []
    for job in unseen(store):
        if not wanted(job):
            store.merge_extra(job.number, retried_by=0)
            continue
        retry = dict(job.extra["retry"])
        retry["attempt"] = int(retry.get("attempt", 1)) + 1
        retry.setdefault("first", job.number)
        extra = {k: v for k, v in job.extra.items() if k not in _PER_ATTEMPT}
        extra["retry"] = retry
        delay = float(retry.get("delay") or 0)
        if delay:
            extra["gate"] = {**(extra.get("gate") or {}), "not_before": time.time() + delay}
        spec = JobSpec(
            command=job.command,
            cwd=job.cwd,
            name=job.name,
            env=job.env,
            parent=job.number,
            script=job.script,
            extra=extra,
        )
        attempt = store.add(spec)
        store.merge_extra(job.number, retried_by=attempt.number)
        new.append(attempt)
    return new


def attempts(store: JobStore, job: Job) -> list[Job]:
    """Every attempt of the run ``job`` belongs to, first first."""
    first = (job.extra.get("retry") or {}).get("first", job.number)
    if "retry" not in job.extra:
        return [job]
    out = [store.get(int(first))] if first != job.number else [job]
    while (nxt := out[-1].extra.get("retried_by")) and len(out) < 1000:
        out.append(store.get(int(nxt)))
    return out
