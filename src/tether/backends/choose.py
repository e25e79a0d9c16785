"""Where a job runs is decided here and nowhere else: from a job's stored placement
(:func:`backend_for`), from a host's configuration (:func:`backend_for_host`), and for a new
run from ``--on``, the project's pinned host or this machine (:func:`pick_host`).

A new kind of host is one more class implementing :class:`tether.backends.base.Backend`
and one more line in ``_BACKENDS``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tether.store.jobs import Job, JobStore

if TYPE_CHECKING:
    from tether.backends.base import Backend


class _Backends(Mapping[str, "Backend"]):
    """Each kind's backend, its module imported on first use (a host's ``ls`` answered
    here loads the local backend, not the SSH and Slurm machinery)."""

    _CLASSES: ClassVar[dict[str, str]] = {
        "local": "tether.backends.local:LocalBackend",
        "ssh": "tether.backends.ssh:SshBackend",
        "slurm": "tether.backends.slurm:SlurmBackend",
    }

    def __init__(self) -> None:
        self._made: dict[str, Backend] = {}

    def __getitem__(self, kind: str) -> Backend:
        if kind not in self._made:
            module, name = self._CLASSES[kind].split(":")
            self._made[kind] = getattr(importlib.import_module(module), name)()
        return self._made[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._CLASSES)

    def __len__(self) -> int:
        return len(self._CLASSES)


_BACKENDS: Mapping[str, Backend] = _Backends()


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


def kept_by_host(name: str | None) -> bool:
    """True when the jobs of host ``name`` are kept by the host itself (an SSH host's own
    tether), so a verb given ``on=name`` is asked of it. False for this machine, for a
    cluster (its jobs are recorded here) and for a host whose commands run here."""
    if name is None or name == "local":
        return False
    from tether.targets.ssh.hosts_config import get_host

    return backend_for_host(name).kind == "ssh" and not get_host(name).is_local


def pick_host(host: str | None) -> str | None:
    """The host a ``run`` goes to: ``--on``, else the project's pinned one; None for here.
    ``auto`` (given or pinned) probes every host and picks the least busy one."""
    if host == "local":
        return None
    if host is not None:
        return _auto_host() if host == "auto" else host
    if not _any_project_file_above(Path.cwd()):
        return None  # the common case, decided without importing the project machinery
    from tether.targets.ssh.hosts_config import PROJECT_FILE, project_default_host
    from tether.targets.ssh.project import find_project

    root = find_project().root
    if not (root / PROJECT_FILE).is_file():
        return None
    pinned = project_default_host(root)
    return _auto_host() if pinned == "auto" else pinned


def _auto_host() -> str:
    from tether.targets.ssh.auto_host import choose_host

    return choose_host(say=sys.stderr)


def _any_project_file_above(folder: Path) -> bool:
    """Is there a ``tether.toml`` in ``folder`` or any folder above it?"""
    return any((candidate / "tether.toml").is_file() for candidate in (folder, *folder.parents))


def _per_backend(
    jobs: Sequence[Job], call: Callable[[Backend, list[Job]], list[Job]], *, skip_finished: bool
) -> list[Job]:
    """``jobs`` in the order given, each group of one backend replaced by what ``call`` of
    that backend returns for it (one call per backend)."""
    out = list(jobs)
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(out):
        if not (skip_finished and job.finished):
            groups.setdefault(job.backend, []).append(i)
    for kind, places in groups.items():
        done = call(_BACKENDS[kind], [out[i] for i in places])
        for i, job in zip(places, done, strict=True):
            out[i] = job
    return out


def refresh_many(store: JobStore, jobs: Sequence[Job], *, fresh: bool = False) -> list[Job]:
    """Every job as it is now, in the order given: each backend is asked once for all of its
    jobs (one Slurm poll per cluster), and finished jobs are not asked about at all.
    ``fresh``: also the jobs whose records are kept as last seen (an SSH host's) are asked."""
    return _per_backend(
        jobs, lambda b, group: b.refresh(store, group, fresh=fresh), skip_finished=True
    )


def refresh(store: JobStore, job: Job) -> Job:
    """``job`` as it is now (a result that landed since the last look is recorded)."""
    return refresh_many(store, [job])[0]


def endings(store: JobStore, jobs: Sequence[Job]) -> Iterator[tuple[Job, Job | None]]:
    """Each of ``jobs`` as it ends, with its next attempt when ``--retry`` queued one; the
    jobs of each backend in turn (a ``run`` queues all of its jobs in one place)."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.backend, []).append(job)
    for kind, group in groups.items():
        yield from _BACKENDS[kind].endings(store, group)


def cancel_many(store: JobStore, jobs: Sequence[Job], *, grace: float = 10.0) -> list[Job]:
    """Cancel ``jobs``, each backend once for all of its jobs; their records, in order."""
    return _per_backend(
        jobs, lambda b, group: b.cancel(store, group, grace=grace), skip_finished=False
    )


def cancel(store: JobStore, job: Job, *, grace: float = 10.0) -> Job:
    """Cancel one job where it runs; its record once it has ended."""
    return cancel_many(store, [job], grace=grace)[0]
