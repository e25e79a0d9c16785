"""The one protocol every place a job can run implements, and the small results it returns.

A backend is chosen for a job by :func:`tether.backends.choose.backend_for` (from the job's
stored placement) or for a host by :func:`~tether.backends.choose.backend_for_host`; nothing
else looks at where a job runs. Verbs written once above the protocol (wait, rerun, follow)
call these methods and never branch on the kind of host.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tether.store.jobs import Job, JobSpec, JobStore

if TYPE_CHECKING:
    from tether.targets.ssh.remote_probe import ProbeRow


class Backend(Protocol):
    """What tether needs from a place that runs jobs: this machine's agent, an SSH host's
    tether, a Slurm cluster. Every method that talks to another machine has a bound wait."""

    kind: str
    """The value of ``Job.backend`` for the jobs it runs: ``local``, ``ssh`` or ``slurm``."""

    def refresh(self, store: JobStore, jobs: Sequence[Job]) -> list[Job]:
        """``jobs`` as they are now, in the order given; one call per host, not per job."""
        ...

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        """Stop ``jobs`` (SIGTERM, then SIGKILL after ``grace`` s where the backend can) and
        return their records once they are recorded as ended."""
        ...

    def resubmit(self, store: JobStore, spec: JobSpec, old: Job) -> Job:
        """Queue ``spec``, a new attempt built from ``old``, where ``old`` ran."""
        ...

    def files_here(self, store: JobStore, job: Job) -> Path:
        """The job's folder on this machine (its output, metrics, events), brought up to date
        first where the job writes elsewhere; a UsageError when only its host has them."""
        ...

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        """The job's output from byte ``start`` on, live, until the job has ended."""
        ...

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        """The host's resources (CPUs, load, memory, disk, GPUs), or why it cannot say."""
        ...
