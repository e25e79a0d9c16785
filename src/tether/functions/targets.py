"""Where a dataset's worker job runs: the seam between "here" and "over SSH".

A :class:`Target` does four things for a Dataset or an Executor, whose files are always written
first into the local folder ``TETHER_HOME/datasets/NAME`` (see :mod:`tether.functions.layout`):

* :meth:`Target.stage_inputs` makes newly written input files (``meta.json``, ``in/*.pkl``,
  ``closed``) visible to the worker job;
* :meth:`Target.start_worker_job` queues ONE tether job running
  ``python -m tether.functions.worker DIR`` and returns its number;
* :meth:`Target.fetch_results` returns the result chunks that arrived since the last call,
  decoded, and :meth:`Target.read_done` the completion marker;
* :meth:`Target.job_status` and :meth:`Target.cancel` follow and stop that job.

:class:`LocalTarget` is all of that on this machine: staging is a no-op (the worker reads the
folder in place) and fetching reads ``results/``. A remote target (SSH) stages with rsync into the
remote ``TETHER_HOME/datasets/NAME``, starts the job there, and copies ``results/`` and
``done.json`` back; it must check the remote Python's ``major.minor`` in
:meth:`Target.python_version` before anything is sent, and it must not unpickle what it fetched
unless the bytes are vouched for (see the trust boundary in :mod:`tether.functions.serialization`).
:mod:`tether.functions.choose` picks the target ``on=`` names; this module imports none of the
remote targets (they import it), so the imports within the package have no circle.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tether.errors import UsageError
from tether.functions import layout, serialization
from tether.functions.serialization import RunResult

LOCAL = "local"
FINISHED = ("succeeded", "failed", "cancelled", "lost")
Chunk = tuple[str, list[RunResult]]


class Target(ABC):
    """Stages inputs, starts the worker job and fetches results for one place."""

    #: what ``on=`` named (``"local"`` or a host); stored as the job's target
    name: str
    home: Path

    @abstractmethod
    def python_version(self) -> str:
        """``major.minor`` of the Python the worker job will run."""

    def check_python(self) -> None:
        """Refuse (before anything is sent) when the worker's Python differs from ours."""
        serialization.check_python(self.python_version(), f"target {self.name!r}")

    def worker_meta(self) -> dict[str, Any]:
        """Entries this target adds to ``meta.json`` for the worker."""
        return {}

    def use_resources(self, resources: Mapping[str, Any], max_parallel: int | None) -> None:
        """Take the Slurm resources (``cpus=``, ``time=``...) given to a Dataset or Executor;
        only a Slurm target has any use for them, the others refuse them."""
        given = sorted(k for k, v in resources.items() if v is not None)
        if given:
            raise UsageError(
                f"{', '.join(f'{k}=' for k in given)}: Slurm resources, but on={self.name!r} is "
                "not a Slurm host; drop them, or run on a host added with --scheduler slurm"
            )

    def send_files(self, paths: Sequence[str]) -> None:
        """Put these files (relative to the current folder) where the runs work, before the
        job starts; here they already are."""
        return None

    def receive_files(self, paths: Sequence[str]) -> list[str]:
        """Bring these files back from where the runs worked, once they have ended; returns
        those that are not there. Here they already are."""
        from tether.functions.files import missing_here

        return missing_here(paths)

    @abstractmethod
    def stage_inputs(self, ddir: layout.DatasetDir, names: Sequence[str]) -> None:
        """Make these files of the local dataset folder (relative names) visible to the job."""

    @abstractmethod
    def start_worker_job(self, ddir: layout.DatasetDir, *, job_name: str, runs: int) -> int:
        """Queue the one job that runs the worker launcher on ``ddir``; its job number."""

    @abstractmethod
    def fetch_results(self, ddir: layout.DatasetDir, seen: set[str]) -> list[Chunk]:
        """Result chunks not in ``seen`` (file names), decoded; adds their names to ``seen``."""

    @abstractmethod
    def read_done(self, ddir: layout.DatasetDir) -> dict[str, Any] | None:
        """The launcher's completion marker, or None while it works."""

    @abstractmethod
    def job_status(self, job_number: int) -> tuple[str, str | None]:
        """The job's status (``queued``, ``running``, ``succeeded``...) and reason."""

    def job_ended(self, ddir: layout.DatasetDir, job_number: int) -> tuple[str, str | None] | None:
        """``(status, reason)`` once the job has ended, else None: checked often while waiting,
        so a remote target answers from what its polls brought back when it can."""
        status, reason = self.job_status(job_number)
        return (status, reason) if status in FINISHED else None

    def job_meta(self, ddir: layout.DatasetDir) -> dict[str, Any]:
        """Entries for the local ``meta.json`` once the job started (to find it again later)."""
        return {}

    def logs_hint(self, job_number: int) -> str:
        """The command that shows the job's output."""
        return f"tether logs {job_number}"

    @abstractmethod
    def cancel(self, job_number: int, grace: float = 10.0) -> None:
        """Stop the job (all its worker processes)."""


class LocalTarget(Target):
    """This machine: the job is an ordinary local tether job run by the agent."""

    def __init__(self, home: Path) -> None:
        self.name = LOCAL
        self.home = home

    def python_version(self) -> str:
        return serialization.python_tag()  # the job runs sys.executable

    def worker_meta(self) -> dict[str, Any]:
        # functions pickled by reference import their module: give the worker our path
        return {"sys_path": [p or os.getcwd() for p in sys.path]}

    def stage_inputs(self, ddir: layout.DatasetDir, names: Sequence[str]) -> None:
        return None  # the worker reads the folder in place

    def start_worker_job(self, ddir: layout.DatasetDir, *, job_name: str, runs: int) -> int:
        from tether.backends.local import queue
        from tether.jobs.submit import captured_env
        from tether.store.jobs import JobSpec

        spec = JobSpec(
            command=[sys.executable, "-m", "tether.functions.worker", str(ddir.path)],
            cwd=os.getcwd(),
            name=job_name,
            env=captured_env(),
            target=LOCAL,
            extra={
                "kind": "functions",
                "dataset": ddir.name,
                "dataset_dir": str(ddir.path),
                "runs": runs,
            },
        )
        return queue([spec], self.home)[0].number

    def fetch_results(self, ddir: layout.DatasetDir, seen: set[str]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for name in sorted(ddir.chunk_names()):
            if name in seen:
                continue
            # trusted: written by our own worker, as this user, under TETHER_HOME (mode 0700)
            with open(ddir.results_dir / name, "rb") as f:
                chunks.append((name, serialization.loads(f.read())))
            seen.add(name)
        return chunks

    def read_done(self, ddir: layout.DatasetDir) -> dict[str, Any] | None:
        return ddir.read_done()

    def job_status(self, job_number: int) -> tuple[str, str | None]:
        """Asked of the backend the job's record names (this machine's agent, a Slurm
        cluster...), through :mod:`tether.backends`."""
        from tether.backends import refresh
        from tether.store.jobs import JobStore

        store = JobStore(self.home)
        try:
            job = refresh(store, store.get(job_number))
            return job.status, job.reason
        finally:
            store.close()

    def cancel(self, job_number: int, grace: float = 10.0) -> None:
        self.cancel_jobs([job_number], grace=grace)

    def cancel_jobs(self, job_numbers: Sequence[int], grace: float = 10.0) -> None:
        """Cancel these jobs of this machine's store, each where it runs (one call per backend,
        through :mod:`tether.backends`)."""
        from tether.backends import cancel_many
        from tether.store.jobs import JobStore

        store = JobStore(self.home)
        try:
            cancel_many(store, [store.get(n) for n in job_numbers], grace=grace)
        finally:
            store.close()
