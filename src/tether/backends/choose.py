"""Where a job runs is decided here and nowhere else: from a job's stored placement
(:func:`backend_for`) or from a host's configuration (:func:`backend_for_host`).

A new kind of host is one more class implementing :class:`tether.backends.base.Backend`
and one more line in ``_BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tether.backends.base import Backend
from tether.backends.local import LocalBackend
from tether.backends.slurm import SlurmBackend
from tether.backends.ssh import SshBackend
from tether.store.jobs import Job, JobStore

_BACKENDS: dict[str, Backend] = {b.kind: b for b in (LocalBackend(), SshBackend(), SlurmBackend())}


def backend_for(job: Job) -> Backend:
    """The backend that runs ``job``, from its stored placement."""
    return _BACKENDS[job.backend]


def backend_for_host(name: str) -> Backend:
    """The backend of the host called ``name`` (``local`` is this machine); a UsageError
    naming the configured hosts when there is no such host."""
    if name == "local":
        return _BACKENDS["local"]
    from tether.targets.ssh.hosts_config import get_host

    return _BACKENDS["slurm" if get_host(name).scheduler == "slurm" else "ssh"]


def refresh_many(store: JobStore, jobs: Sequence[Job]) -> list[Job]:
    """Every job as it is now, in the order given: each backend is asked once for all of its
    jobs (one Slurm poll per cluster), and finished jobs are not asked about at all."""
    out = list(jobs)
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(out):
        if not job.finished:
            groups.setdefault(job.backend, []).append(i)
    for kind, places in groups.items():
        fresh = _BACKENDS[kind].refresh(store, [out[i] for i in places])
        for i, job in zip(places, fresh, strict=True):
            out[i] = job
    return out


def refresh(store: JobStore, job: Job) -> Job:
    """``job`` as it is now (a result that landed since the last look is recorded)."""
    return refresh_many(store, [job])[0]


def cancel_many(store: JobStore, jobs: Sequence[Job], *, grace: float = 10.0) -> list[Job]:
    """Cancel ``jobs``, each backend once for all of its jobs; their records, in order."""
    out = list(jobs)
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(out):
        groups.setdefault(job.backend, []).append(i)
    for kind, places in groups.items():
        done = _BACKENDS[kind].cancel(store, [out[i] for i in places], grace=grace)
        for i, job in zip(places, done, strict=True):
            out[i] = job
    return out


def cancel(store: JobStore, job: Job, *, grace: float = 10.0) -> Job:
    """Cancel one job where it runs; its record once it has ended."""
    return cancel_many(store, [job], grace=grace)[0]
