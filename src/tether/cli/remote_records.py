"""Local records of jobs that run on an SSH host: the job verbs hand them to the host.

``tether run --on HOST`` keeps a local record of each job (``target`` = HOST,
``Job.remote_uuid``). ``cancel``, ``logs``, ``show`` and ``wait`` given such a record
act on the job there, as if ``--on HOST UUID`` had been given. Jobs on a Slurm host are
tracked here (``Job.slurm_id``) and are never handed over this way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tether.errors import UsageError
from tether.store.jobs import Job

_HOST_LINE = re.compile(r"^(  host\s+)local$", re.MULTILINE)


@dataclass(frozen=True)
class RemoteJob:
    """Where a local record's job really runs: the host's name and the job's uuid there."""

    host: str
    uuid: str
    local_number: int
    remote_number: int | None = None
    """The job's number on the host, which its answers use (rewritten to the local one)."""


def remote_job(record: Job, *, required: bool = True) -> RemoteJob | None:
    """The host and remote uuid of ``record`` when its job runs on an SSH host, else None.

    A record whose host is no longer configured is an error when ``required`` (the job
    cannot be reached), else None (callers then show the record as last seen).
    """
    uuid = record.remote_uuid
    if record.target == "local" or not isinstance(uuid, str) or not uuid:
        return None
    if record.slurm_id is not None:
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
    if getattr(spec, "scheduler", "none") != "none":
        return None
    number = record.remote_number
    return RemoteJob(
        record.target, uuid, record.number, number if isinstance(number, int) else None
    )


def _local_numbers(job: RemoteJob, text: str) -> str:
    """The host's answer with its number for the job (``#25``) written as the local one."""
    if job.remote_number is None or job.remote_number == job.local_number:
        return text
    return re.sub(rf"#{job.remote_number}\b", f"#{job.local_number}", text)


def run_on_host(job: RemoteJob, args: list[str], *, timeout: float | None = 120.0) -> int:
    """Run ``tether ARGS`` on the job's host, print its output here, bring the local record
    up to date (one more call: ``show --json``); return the host's exit code."""
    import json
    import sys

    from tether.errors import TetherError
    from tether.targets.ssh import remote_jobs

    transport = remote_jobs.transport_for(job.host)
    result = remote_jobs.call(transport, args, timeout=timeout)
    shown = args[0] == "show" and result.returncode == 0
    data: object = None
    if shown and "--json" in args:
        try:
            data = json.loads(result.stdout)  # the fresh state already: no second call
        except ValueError:
            data = None
    if isinstance(data, dict):
        # One identity: "number" is the local one (what local verbs take), as for local jobs.
        data.update(host=job.host, local_number=job.local_number)
        data.update(remote_number=data.get("number"), number=job.local_number)
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif shown:  # the host calls itself "local"
        text = _HOST_LINE.sub(rf"\g<1>{job.host}", result.stdout, count=1)
        sys.stdout.write(_local_numbers(job, text))
    else:
        sys.stdout.write(_local_numbers(job, result.stdout))
    sys.stdout.flush()
    sys.stderr.write(_local_numbers(job, result.stderr))
    if data is None:
        try:
            data = remote_jobs.call_json(transport, ["show", job.uuid], timeout=30)
        except TetherError:
            return result.returncode  # the answer stands; the record is refreshed next time
    if isinstance(data, dict):
        remote_jobs.update_local(job.host, [data])
    return result.returncode


def split_by_host(jobs: list[Job]) -> tuple[list[int], list[RemoteJob]]:
    """The numbers of ``jobs`` tracked here, and where the others (records of jobs on SSH
    hosts) run. Records of hosts no longer configured are in neither: nothing to wait for."""
    here: list[int] = []
    there: list[RemoteJob] = []
    for job in jobs:
        if job.target == "local" or job.slurm_id is not None or job.remote_uuid is None:
            here.append(job.number)
            continue
        found = remote_job(job, required=False)
        if found is not None:
            there.append(found)
    return here, there
