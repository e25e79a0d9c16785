"""Bringing a job's record up to date with what its supervisor left behind, and cancelling it.

Shared by the agent and every CLI call, so a result is recorded by whoever sees it first.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from tether.agent.files import GRACE_FILE, RESULT_FILE, RUN_FILE, read_json
from tether.errors import TetherError
from tether.jobs import state
from tether.jobs.status import CANCELLED, FAILED, LOST, QUEUED, RUNNING, SUCCEEDED
from tether.store.jobs import Job, JobStore
from tether.store.metrics import read_summaries

# A job claimed this long ago with no sign of its supervisor was dropped by a dying agent.
CLAIM_GRACE = 30.0


def _claim_grace() -> float:
    """:data:`CLAIM_GRACE`, or a test's shorter one (``TETHER_TEST_CLAIM_GRACE``)."""
    return float(os.environ.get("TETHER_TEST_CLAIM_GRACE") or CLAIM_GRACE)


def record_result(store: JobStore, job: Job) -> bool:
    """If the job's supervisor wrote a result, record it. True when the job is now finished."""
    if job.status != RUNNING or job.backend != "local":
        return job.finished
    result = read_json(Path(job.job_dir) / RESULT_FILE)
    if result is None:
        return False
    code = result.get("exit_code")
    if result.get("cancelled"):
        status, reason = CANCELLED, "cancelled"
    elif code == 0:
        status, reason = SUCCEEDED, None
    else:
        status = FAILED
        reason = f"killed by {result['signal']}" if result.get("signal") else f"exit code {code}"
    if result.get("log_error"):
        reason = "; ".join(filter(None, [reason, str(result["log_error"])]))
    summary = {k: v.to_json() for k, v in read_summaries(Path(job.job_dir)).items()}
    if summary:
        store.merge_extra(job.number, metrics=summary)
    run = read_json(Path(job.job_dir) / RUN_FILE) or {}
    ids: dict[str, Any] = {}
    if job.pid is None:
        ids = {"pid": run.get("pid"), "pid_started": run.get("pid_started")}
    state.finish(
        store, job.number, status, exit_code=code, reason=reason, ended=result.get("ended"), **ids
    )
    return True


def record_start(store: JobStore, job: Job) -> None:
    """Copy the job's pid from ``run.json`` into the store."""
    run = read_json(Path(job.job_dir) / RUN_FILE)
    if run and job.pid is None:
        store.update(job.number, pid=run.get("pid"), pid_started=run.get("pid_started"))


def reconcile(store: JobStore, job: Job, *, unstarted_for: float = 0.0) -> str:
    """Decide what a ``running`` local job really is now: running, finished, lost or requeued.

    ``unstarted_for``: how long the caller has seen the job without a sign of its supervisor,
    in seconds of a monotonic clock (no wall-clock step makes a job look older or newer).
    """
    if record_result(store, job):
        return "finished"
    if _supervisor_alive(job):
        return RUNNING
    run = read_json(Path(job.job_dir) / RUN_FILE)
    if run and _payload_alive(run):
        return RUNNING  # supervisor gone, payload alive: keep watching it
    if run is None and job.supervisor_pid is None:
        if unstarted_for < _claim_grace():
            return RUNNING
        state.requeue(store, job)
        return QUEUED
    if record_result(store, job):  # the result may have landed meanwhile
        return "finished"
    state.finish(
        store, job.number, LOST, exit_code=None, reason="its supervisor died without a result"
    )
    return LOST


def _supervisor_alive(job: Job) -> bool:
    from tether.agent import processes  # psutil: not for a look at the records (`ls`)

    return processes.is_alive(job.supervisor_pid, job.supervisor_started, job.extra.get("boot_id"))


def _payload_alive(run: dict[str, Any]) -> bool:
    from tether.agent import processes

    return processes.is_alive(run.get("pid"), run.get("pid_started"), run.get("boot_id"))


def refresh(store: JobStore, job: Job) -> Job:
    """The local job as it is now (records a result that landed since the last look). Jobs
    of other backends: :func:`tether.backends.refresh`."""
    if job.status != RUNNING:
        return job
    if record_result(store, job):
        return store.get(job.number)
    if job.pid is None:
        record_start(store, job)
        return store.get(job.number)
    return job


def cancel(store: JobStore, job: Job, *, grace: float = 10.0) -> Job:
    """Cancel a queued or running local job: SIGTERM to its whole tree, SIGKILL after
    ``grace`` s. Returns once the job is recorded as finished (its processes are gone).
    Jobs of other backends: :func:`tether.backends.cancel`."""
    if job.status == QUEUED and state.cancel_queued(store, job.number):
        return store.get(job.number)
    job = _wait_for_supervisor(store, job)
    if job.finished:
        return job
    store.update(job.number, cancel_requested=1)
    # a supervisor just forked may not have made the job's folder yet
    Path(job.job_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    Path(job.job_dir, GRACE_FILE).write_text(str(grace))
    if _supervisor_alive(job):
        assert job.supervisor_pid is not None
        os.kill(job.supervisor_pid, signal.SIGTERM)
    else:
        _kill_orphan(store, job, grace)
    deadline = time.monotonic() + grace + 5
    while time.monotonic() < deadline:
        job = refresh(store, store.get(job.number))
        if job.finished:
            return job
        time.sleep(0.05)
    raise TetherError(f"job #{job.number} did not stop within {grace + 5:.0f} s (pid {job.pid})")


def _wait_for_supervisor(store: JobStore, job: Job, timeout: float = 5.0) -> Job:
    """A job the agent just claimed may not have its supervisor's pid recorded yet."""
    deadline = time.monotonic() + timeout
    job = refresh(store, store.get(job.number))
    while job.status == RUNNING and job.supervisor_pid is None and time.monotonic() < deadline:
        time.sleep(0.02)
        job = refresh(store, store.get(job.number))
    return job


def _kill_orphan(store: JobStore, job: Job, grace: float) -> None:
    """The supervisor is gone but the payload lives: kill it ourselves and record that."""
    from tether.agent import processes

    run = read_json(Path(job.job_dir) / RUN_FILE)
    if run and _payload_alive(run):
        pid = int(run["pid"])
        procs = processes.tree(pid)
        processes.signal_group_and_tree(pid, procs, signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and _payload_alive(run):
            time.sleep(0.05)
        processes.signal_group_and_tree(pid, procs, signal.SIGKILL)
    state.finish(store, job.number, CANCELLED, exit_code=None, reason="cancelled")
