"""Local records of jobs that run on an SSH host: the job verbs hand them to the host.

``tether run --on HOST`` keeps a local record of each job (its backend is ``ssh``; see
:func:`tether.backends.ssh.remote_job`). ``cancel``, ``logs``, ``show`` and ``wait`` given
such a record act on the job there, as if ``--on HOST UUID`` had been given, and print the
host's answer with the local number. Jobs on a Slurm host are tracked here.
"""

from __future__ import annotations

import re

from tether.backends.ssh import RemoteJob, remote_job, split_by_host

__all__ = ["RemoteJob", "remote_job", "run_on_host", "split_by_host"]

_HOST_LINE = re.compile(r"^(  host\s+)local$", re.MULTILINE)


def _local_numbers(job: RemoteJob, text: str) -> str:
    """The host's answer with its number for the job (``#25``) written as the local one."""
    if job.host_number is None or job.host_number == job.local_number:
        return text
    return re.sub(rf"#{job.host_number}\b", f"#{job.local_number}", text)


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
