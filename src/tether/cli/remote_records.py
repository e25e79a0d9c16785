"""Local records of jobs that run on an SSH host: the job verbs hand them to the host.

``tether run --on HOST`` keeps a local record of each job (its backend is ``ssh``; see
:func:`tether.backends.ssh.remote_job`). ``cancel``, ``logs``, ``show`` and ``wait`` given
such a record act on the job there, as if ``--on HOST UUID`` had been given, and print the
host's answer with the local number (:func:`tether.api.remote.run_on_host`). Jobs on a Slurm
host are tracked here.
"""

from __future__ import annotations

import sys

from tether.backends.ssh import RemoteJob, remote_job, split_by_host

__all__ = ["RemoteJob", "remote_job", "run_on_host", "split_by_host"]


def run_on_host(job: RemoteJob, args: list[str], *, timeout: float | None = 120.0) -> int:
    """Run ``tether ARGS`` on the job's host, print its answer here; the host's exit code."""
    from tether.api.remote import run_on_host as ask

    answer = ask(job, args, timeout=timeout)
    sys.stdout.write(answer.stdout)
    sys.stdout.flush()
    sys.stderr.write(answer.stderr)
    return answer.returncode
