"""SSH hosts: a job started with ``tether run --on HOST`` runs under that host's own tether;
this machine keeps a record of it (``Job.backend == "ssh"``, ``Job.remote_id`` is the job's
uuid there) and asks the host about it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tether.errors import UsageError
from tether.store.jobs import Job, JobSpec, JobStore

if TYPE_CHECKING:
    from tether.targets.ssh.remote_probe import ProbeRow

# The longest a control call (show, cancel) waits for the host beyond the job's own grace.
CONTROL_TIMEOUT = 30.0


@dataclass(frozen=True)
class RemoteJob:
    """Where a local record's job really runs: the host's name and the job's uuid there."""

    host: str
    uuid: str
    local_number: int
    host_number: int | None = None
    """The job's number on the host, which its answers use (shown as the local one)."""


def remote_job(record: Job, *, required: bool = True) -> RemoteJob | None:
    """The host and remote uuid of ``record`` when its job runs on an SSH host, else None.

    A record whose host is no longer configured is an error when ``required`` (the job
    cannot be reached), else None (callers then show the record as last seen).
    """
    if record.backend != "ssh" or not record.remote_id:
        return None
    from tether.targets.ssh.hosts_config import load_hosts

    spec = load_hosts().get(record.target)
    if spec is None:
        if not required:
            return None
        raise UsageError(
            f"job #{record.number} runs on {record.target}, which is no longer configured; "
            f"add it back with `tether hosts add {record.target} DEST` to reach the job"
        )
    if spec.scheduler != "none":
        return None
    return RemoteJob(record.target, record.remote_id, record.number, record.remote_number)


def split_by_host(jobs: list[Job]) -> tuple[list[int], list[RemoteJob]]:
    """The numbers of ``jobs`` tracked here, and where the others (records of jobs on SSH
    hosts) run. Records of hosts no longer configured are in neither: nothing to wait for."""
    here: list[int] = []
    there: list[RemoteJob] = []
    for job in jobs:
        if job.backend != "ssh":
            here.append(job.number)
            continue
        found = remote_job(job, required=False)
        if found is not None:
            there.append(found)
    return here, there


def probe_host_named(host: str, *, timeout: float) -> ProbeRow:
    """Probe the configured host ``host`` over its transport (never raises for a dead link:
    the row says why)."""
    from tether.targets.ssh.hosts_config import get_host
    from tether.targets.ssh.remote_probe import probe_host
    from tether.targets.ssh.transport import Transport

    connect = max(1, min(10, int(timeout)))
    return probe_host(Transport(get_host(host), connect_timeout=connect), timeout)


class SshBackend:
    """Jobs run by an SSH host's tether; their local records mirror what the host says."""

    kind = "ssh"

    def refresh(self, store: JobStore, jobs: Sequence[Job]) -> list[Job]:
        """The records as last seen: asking each host on every local look would make ``ls``
        as slow as the slowest link. ``show``, ``wait`` and ``ls --all`` ask the host."""
        return list(jobs)

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        """``tether cancel`` on each job's host, then its record brought up to date."""
        from tether.targets.ssh import remote_jobs

        done = []
        for job in jobs:
            where = remote_job(job)
            if where is None:
                raise UsageError(f"job #{job.number} has no job on {job.target} to cancel")
            transport = remote_jobs.transport_for(where.host)
            timeout = grace + CONTROL_TIMEOUT
            result = remote_jobs.call(
                transport, ["cancel", "--grace", str(grace), where.uuid], timeout=timeout
            )
            if result.returncode != 0:
                raise UsageError(
                    f"{where.host} refused to cancel job #{job.number}: "
                    f"{(result.stderr or result.stdout).strip()[:300]}"
                )
            data = remote_jobs.call_json(transport, ["show", where.uuid], timeout=CONTROL_TIMEOUT)
            if isinstance(data, dict):
                remote_jobs.update_local(where.host, [data])
            done.append(store.get(job.number))
        return done

    def resubmit(self, store: JobStore, spec: JobSpec, old: Job) -> Job:
        raise UsageError(
            f"job #{old.number} ran on {old.host}: re-running a job of an SSH host is not there"
            f" yet; run it again with `tether run --on {old.host} ...`; nothing queued"
        )

    def files_here(self, store: JobStore, job: Job) -> Path:
        raise UsageError(
            f"job #{job.number}'s files are on {job.target}: read its output with "
            f"`tether logs {job.number}`"
        )

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        raise UsageError(
            f"job #{job.number}'s log is on {job.target}: follow it with "
            f"`tether logs -f {job.number}`"
        )

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        return probe_host_named(host, timeout=timeout)
