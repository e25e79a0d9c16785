"""Keeping the records of Slurm jobs up to date: one batched poll per host, with backoff.

Every place that refreshes jobs (``ls``, ``show``, ``wait``, ``logs -f``, the agent) comes
here for jobs with a ``slurm_id``. One call asks about all of a host's unfinished jobs at
once (see :meth:`SlurmCluster.poll`); within one process, a host is asked again only after
a pause that grows (0.5 s up to 5 s) while nothing changes, so loops never hammer Slurm.

A job Slurm has forgotten without tether seeing its end (no accounting, and it left
squeue/scontrol after ``MinJobAge``) is recorded ``lost`` with the reason, never left
running. In laptop mode the job's folder (output, metrics, events) is copied here when the
job ends, so ``logs``, ``show`` and ``scalars`` work as for local jobs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from tether.errors import TetherError
from tether.jobs import state as jobstate
from tether.jobs.status import LOST, QUEUED, RUNNING
from tether.store.jobs import Job, JobStore
from tether.targets.slurm.states import SlurmJobState

MIN_INTERVAL = 0.5
MAX_INTERVAL = 5.0
BACKOFF = 1.5

# host -> (when it was last asked, the pause before asking again); per process
_polls: dict[str, tuple[float, float]] = {}
_warned: set[str] = set()


def is_slurm_job(job: Job) -> bool:
    """Whether ``job`` was submitted to a Slurm cluster."""
    return job.slurm_id is not None


def _due(host: str, now: float) -> bool:
    last = _polls.get(host)
    return last is None or now - last[0] >= last[1]


def _polled(host: str, now: float, changed: bool) -> None:
    pause = _polls.get(host, (0.0, MIN_INTERVAL / BACKOFF))[1]
    _polls[host] = (now, MIN_INTERVAL if changed else min(MAX_INTERVAL, pause * BACKOFF))


def refresh_jobs(
    store: JobStore, jobs: Sequence[Job], *, force: bool = False, strict: bool = False
) -> list[Job]:
    """``jobs`` as they are now; Slurm jobs are brought up to date, one poll per host.

    Other jobs are returned as given. Without ``force`` a host asked a moment ago is not
    asked again (see the module doc). A host that cannot be asked is reported once on
    stderr and its jobs keep their last known status, unless ``strict`` (then it raises).
    """
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        if is_slurm_job(job) and not job.finished:
            groups.setdefault(job.target, []).append(job)
    fresh: dict[int, Job] = {}
    now = time.monotonic()
    for host, group in groups.items():
        if not force and not _due(host, now):
            fresh.update((j.number, store.get(j.number)) for j in group)
            continue
        try:
            changed = poll_host(store, host, group)
        except TetherError as exc:
            if strict:
                raise
            if host not in _warned:
                _warned.add(host)
                print(f"tether: cannot ask {host} about its jobs: {exc}", file=sys.stderr)
            changed = False
        _polled(host, time.monotonic(), changed)
        fresh.update((j.number, store.get(j.number)) for j in group)
    return [fresh.get(j.number, j) for j in jobs]


def poll_host(store: JobStore, host: str, jobs: Iterable[Job]) -> bool:
    """Ask ``host`` about ``jobs`` (one poll) and record what changed; True if anything did."""
    from tether.targets.slurm.arrays import array_state
    from tether.targets.slurm.cluster import SlurmCluster
    from tether.targets.ssh.hosts_config import get_host

    group = list(jobs)
    cluster = SlurmCluster(get_host(host))
    found = cluster.poll(str(j.slurm_id) for j in group)
    changed = False
    for job in group:  # an array's tasks count as one job
        changed |= apply_state(store, job, array_state(found, str(job.slurm_id)))
    return changed


def apply_state(store: JobStore, job: Job, state: SlurmJobState | None) -> bool:
    """Record Slurm's ``state`` for ``job``; ``None`` means Slurm no longer knows it."""
    if state is None:
        reason = (
            f"Slurm no longer knows job {job.slurm_id} and kept no final state "
            "(no accounting); see its output"
        )
        return jobstate.finish(
            store, job.number, LOST, exit_code=None, reason=reason, expected=job.status
        )
    if state.status == QUEUED:
        if state.reason != job.reason:
            store.update(job.number, reason=state.reason)
        return False
    if state.status == RUNNING:
        if job.status == RUNNING and job.reason == state.reason:
            return False
        if job.status == RUNNING:
            store.update(job.number, reason=state.reason)
            return True
        return jobstate.start(store, job, reason=state.reason)
    if not job.extra.get("slurm_local", True):
        fetch_files(job)
    _record_metrics(store, job)
    started = job.started
    if started is None and state.state not in ("CANCELLED", "REVOKED"):
        started = time.time()  # it ran between two looks
    return jobstate.finish(
        store,
        job.number,
        state.status,
        exit_code=state.exit_code,
        reason=state.reason,
        expected=job.status,
        started=started,
    )


def _record_metrics(store: JobStore, job: Job) -> None:
    from tether.store.metrics import read_summaries

    summary = {k: v.to_json() for k, v in read_summaries(Path(job.job_dir)).items()}
    if summary:
        store.merge_extra(job.number, metrics=summary)


def fetch_files(job: Job) -> None:
    """Copy a laptop-mode job's folder (output, metrics, events) into its local folder."""
    from tether.targets.slurm.submit import REMOTE_JOBS
    from tether.targets.ssh.command import Remote, rsync_argv
    from tether.targets.ssh.hosts_config import get_host
    from tether.targets.ssh.transport import Transport

    transport = Transport(get_host(job.target))
    Path(job.job_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = rsync_argv(
        transport.spec, transport.controls, Remote(f"{REMOTE_JOBS}/{job.uuid}/"),
        f"{job.job_dir}/", delete=False, excludes=(), connect_timeout=transport.connect_timeout,
    )  # fmt: skip
    result = transport.call(argv, timeout=300, check=False, what="rsync")
    if result.returncode not in (0, 23, 24):  # 23/24: some files missing or vanished
        raise transport.failure(result.returncode, result.stderr)


def cancel_jobs(store: JobStore, jobs: Sequence[Job], *, timeout: float = 60.0) -> list[Job]:
    """``scancel`` the jobs (one call per host) and wait until Slurm reports them ended."""
    from tether.targets.slurm.cluster import SlurmCluster
    from tether.targets.ssh.hosts_config import get_host

    groups: dict[str, list[str]] = {}
    for job in jobs:
        if not job.finished:
            groups.setdefault(job.target, []).append(str(job.slurm_id))
    for host, ids in groups.items():
        SlurmCluster(get_host(host)).cancel(ids)
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        current = refresh_jobs(store, [store.get(j.number) for j in jobs], force=True, strict=True)
        if all(j.finished for j in current):
            return current
        if time.monotonic() > deadline:
            left = ", ".join(f"#{j.number}" for j in current if not j.finished)
            raise TetherError(f"Slurm has not ended {left} within {timeout:g} s of scancel")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
