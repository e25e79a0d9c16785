"""The Slurm target: a Dataset's (or Executor's) runs as ONE Slurm job array per batch.

For a host added with ``--scheduler slurm``, either mode:

* DEST ``local`` (tether on the login node): the dataset folder under ``TETHER_HOME`` is read
  and written by the tasks in place (files work as for :class:`LocalTarget`);
* over ssh (laptop mode): inputs go to the host's ``TETHER_HOME/datasets/NAME`` and results
  come back with rsync, over the shared connection (files work as for :class:`SshTarget`).

Each staged batch (a Dataset has one; an Executor one per ``map`` or burst of ``submit``) is
submitted with one ``sbatch --array=0-(T-1)%K``: task ``i`` runs ``python -m
tether.functions.array_task DIR BATCH SIZE``, i.e. runs ``i*SIZE...`` of the batch, and
writes result chunk ``i`` (see :mod:`tether.functions.array_task`). Every array is a job in
``tether ls`` (host = the Slurm host, with its ``slurm_id``), its tasks' output appended to
its one ``output.log``. ``T`` is at most 100 by default (``chunk_size`` sets the runs per
task), never more than 1000; ``K`` is ``max_parallel``.

Completion is decided here: once every expected chunk is here and no batch can come, this
side writes ``done.json``. Slurm is polled (one call for all arrays, at most every second,
backing off) to notice tasks that ended without their chunk (timeout, out of memory, a
crash): their runs get an error naming Slurm's reason. A cancelled array ends the dataset
(``DatasetStopped``), as cancelling a local job does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tether.backends.slurm_submit import Resources, placement, resources_of
from tether.errors import UsageError
from tether.functions import layout, serialization
from tether.functions.errors import RunFailed
from tether.functions.targets import Chunk, LocalTarget, Target
from tether.targets.ssh.hostspec import HostSpec

DEFAULT_TASKS = 100  # tasks per array unless chunk_size says otherwise
MAX_TASKS = 1000  # Slurm's default MaxArraySize is 1001 (indexes 0-1000)
FIRST_GAP = 1.0  # seconds between two polls of Slurm, growing while nothing changes
MAX_GAP = 5.0
RESOURCE_NAMES = ("cpus", "mem", "gpus", "time", "partition", "account", "qos", "constraint")
SBATCH = "sbatch"  # the keyword for extra sbatch lines (``--sbatch LINE`` on the CLI)


def task_size(calls: int, chunk_size: int | None) -> int:
    """Runs per array task: ``chunk_size``, else enough for at most ``DEFAULT_TASKS`` tasks;
    never so few that the array would have more than ``MAX_TASKS`` tasks."""
    size = chunk_size or -(-calls // max(1, min(calls, DEFAULT_TASKS)))
    return max(1, size, -(-calls // MAX_TASKS))


def parse_function_resources(values: Mapping[str, Any]) -> Resources:
    """The Slurm resources given to a Dataset or Executor as keywords, checked."""
    unknown = sorted(set(values) - {*RESOURCE_NAMES, SBATCH})
    if unknown:
        raise UsageError(
            f"unknown keyword(s) {', '.join(unknown)}; the Slurm resources are "
            f"{', '.join(RESOURCE_NAMES)} and {SBATCH} (extra sbatch lines)"
        )
    given = {k: v for k, v in values.items() if v is not None and k != SBATCH}
    lines = values.get(SBATCH)
    if lines is not None:
        given["sbatch_lines"] = [lines] if isinstance(lines, str) else list(lines)
    return resources_of(given)


UNSURE_POLLS = 3
"""How many polls wait for the exit code of a task Slurm shows failed without one."""


class SlurmTarget(Target):
    """A Slurm host: each batch of runs goes as one job array."""

    def __init__(self, spec: HostSpec, home: Path) -> None:
        from tether.functions.ssh_target import SshTarget

        self.name = spec.name
        self.home = home
        self.spec = spec
        self.local = LocalTarget(home)  # the job store, and the files in DEST-local mode
        self.ssh = None if spec.is_local else SshTarget(spec, home)
        self.resources = Resources()
        self.max_parallel: int | None = None
        self._arrays: dict[str, list[dict[str, Any]]] = {}  # dataset folder -> its arrays
        self._cancelled: dict[str, str] = {}  # dataset folder -> why
        self._filled: dict[str, int] = {}  # dataset folder -> chunks filled with errors
        self._next_poll = 0.0
        self._gap = FIRST_GAP
        self._unsure: dict[tuple[str, int], int] = {}
        """Polls that saw a task failed with no exit code yet (squeue's view, before sacct)."""

    def __repr__(self) -> str:
        return f"SlurmTarget({self.name!r})"

    # -- options and checks --------------------------------------------------------------------
    def use_resources(self, resources: Mapping[str, Any], max_parallel: int | None) -> None:
        self.resources = parse_function_resources(resources)
        self.max_parallel = max_parallel

    def python_version(self) -> str:
        return self.ssh.python_version() if self.ssh else self.local.python_version()

    def worker_meta(self) -> dict[str, Any]:
        meta = self.ssh.worker_meta() if self.ssh else self.local.worker_meta()
        return {**meta, "owner_pid": None}  # the tasks check no owner

    def job_meta(self, ddir: layout.DatasetDir) -> dict[str, Any]:
        meta = self.ssh.job_meta(ddir) if self.ssh else {}
        return {**meta, "arrays": list(self._arrays_of(ddir))}

    def logs_hint(self, job_number: int) -> str:
        return f"tether logs {job_number}"

    # -- staging and submitting ----------------------------------------------------------------
    def send_files(self, paths: Sequence[str]) -> None:
        (self.ssh or self.local).send_files(paths)

    def receive_files(self, paths: Sequence[str]) -> list[str]:
        return (self.ssh or self.local).receive_files(paths)

    def stage_inputs(self, ddir: layout.DatasetDir, names: Sequence[str]) -> None:
        if self.ssh:
            self.ssh.stage_inputs(ddir, names)
        arrays = self._arrays_of(ddir)
        if not arrays:
            return  # the first batch goes with start_worker_job
        for name in names:
            parsed = layout.parse_batch_file(name.rsplit("/", 1)[-1])
            if parsed and not any(a["batch"] == parsed[0] for a in arrays):
                self._submit(ddir, parsed[0], parsed[1], f"{ddir.name}-b{parsed[0]}")
        self._gap = FIRST_GAP

    def start_worker_job(self, ddir: layout.DatasetDir, *, job_name: str, runs: int) -> int:
        staged = ddir.batches()
        if not staged:
            raise UsageError(f"dataset {ddir.name!r} has no staged batch to submit")
        first = None
        for number, calls, _ in staged:
            name = job_name if first is None else f"{job_name}-b{number}"
            job = self._submit(ddir, number, calls, name)
            first = job if first is None else first
        assert first is not None
        return first

    def _submit(self, ddir: layout.DatasetDir, batch: int, calls: int, job_name: str) -> int:
        """One ``sbatch --array`` for ``batch``; recorded in the local store and meta.json."""
        from tether.backends.slurm_submit import submit_array

        size = task_size(calls, ddir.read_meta().get("chunk_size"))
        tasks = -(-calls // size)
        array = f"0-{tasks - 1}" + (f"%{self.max_parallel}" if self.max_parallel else "")
        lines = (*self.resources.sbatch_lines, "--open-mode=append")  # tasks share output.log
        resources = replace(self.resources, array=array, sbatch_lines=lines)
        where, python, folder = self._placement(ddir)
        argv = [python, "-m", "tether.functions.array_task", folder, str(batch), str(size)]
        extra = {"kind": "functions", "dataset": ddir.name, "dataset_dir": str(ddir.path),
                 "runs": calls, "batch": batch, "array_tasks": tasks}  # fmt: skip
        number, slurm_id = submit_array(
            self.spec, argv, resources, where, name=job_name, extra=extra, home=self.home
        )
        arrays = self._arrays_of(ddir)
        arrays.append({"job": number, "slurm_id": slurm_id, "batch": batch,
                       "size": size, "tasks": tasks, "calls": calls})  # fmt: skip
        meta = ddir.read_meta()
        meta["arrays"] = arrays
        ddir.write_meta(meta)
        return number

    def _placement(self, ddir: layout.DatasetDir) -> tuple[Any, str, str]:
        """Where the tasks run, their Python and the dataset folder they read."""
        if self.ssh is None:
            return placement(), sys.executable, str(ddir.path)
        where = placement(home=self.ssh.installed().home, workdir=self.ssh.remote_workdir())
        return where, self.ssh.installed().executable, self.ssh.dataset_folder(ddir)

    # -- results and completion ----------------------------------------------------------------
    def _arrays_of(self, ddir: layout.DatasetDir) -> list[dict[str, Any]]:
        key = str(ddir.path)
        if key not in self._arrays:
            saved = ddir.read_meta().get("arrays") if ddir.exists() else None
            self._arrays[key] = [dict(a) for a in saved or []]
        return self._arrays[key]

    def _expected(self, ddir: layout.DatasetDir) -> dict[str, tuple[dict[str, Any], int]]:
        """Chunk file -> (its array, its task), for every array submitted."""
        return {
            layout.chunk_file(a["batch"], task): (a, task)
            for a in self._arrays_of(ddir)
            for task in range(a["tasks"])
        }

    def _settle(self, ddir: layout.DatasetDir) -> dict[str, Any] | None:
        """Write ``done.json`` when everything is in; poll Slurm for tasks that died."""
        done = ddir.read_done()
        if done is not None or not self._arrays_of(ddir):
            return done
        expected = self._expected(ddir)
        missing = set(expected) - set(ddir.chunk_names())
        if missing and time.monotonic() >= self._next_poll:
            missing = self._poll(ddir, expected, missing)
        if missing or not ddir.is_closed():
            return None
        arrays = self._arrays_of(ddir)
        info = {"ended": time.time(), "runs": sum(a["calls"] for a in arrays),
                "batches": len(arrays), "lost_chunks": self._filled.get(str(ddir.path), 0),
                "arrays": [a["slurm_id"] for a in arrays]}  # fmt: skip
        ddir.write_done(info)
        return info

    def _poll(
        self,
        ddir: layout.DatasetDir,
        expected: dict[str, tuple[dict[str, Any], int]],
        missing: set[str],
    ) -> set[str]:
        """Ask Slurm about the arrays still owing chunks; fill the chunks of dead tasks."""
        from tether.backends.slurm import array_tasks
        from tether.targets.ssh.failures import SshFailure

        owing = {expected[name][0]["slurm_id"] for name in missing}
        self._gap = min(self._gap * 1.5, MAX_GAP)
        self._next_poll = time.monotonic() + self._gap
        try:
            states = array_tasks(self.spec, sorted(owing))
            if self.ssh:  # chunks written before the tasks ended: bring them first
                self.ssh.pull_now(ddir)
                missing = set(expected) - set(ddir.chunk_names())
        except SshFailure as exc:
            if not exc.retryable:
                raise
            return missing  # the link is down: the next poll tries again
        for name in sorted(missing):
            array, task = expected[name]
            tasks = states[array["slurm_id"]]
            state = tasks.get(task)
            if state is not None and not state.terminal:
                continue
            if state is None and tasks:
                continue  # not mentioned while its siblings are: look again later
            if state is not None and state.status == "failed" and state.exit_code is None:
                seen = self._unsure.get((name, task), 0)
                if seen < UNSURE_POLLS:  # squeue saw it end; sacct has its exit code soon
                    self._unsure[(name, task)] = seen + 1
                    continue
            if state is not None and state.status == "cancelled":
                why = f"task {task} {state.reason or 'cancelled'}"
                self._cancelled.setdefault(str(ddir.path), why)
                continue
            where = f"Slurm task {array['slurm_id']}_{task} (job #{array['job']})"
            if state is None:
                why = f"Slurm no longer knows {where} and kept no final state"
            else:
                why = f"{where} ended {state.state} ({state.reason or state.status})"
            self._fill(ddir, name, array, task, f"{why} before writing its results")
            missing.discard(name)
        return missing

    def _fill(
        self, ddir: layout.DatasetDir, name: str, array: dict[str, Any], task: int, why: str
    ) -> None:
        lo = min(task * array["size"], array["calls"])
        hi = min(lo + array["size"], array["calls"])
        exc = RunFailed(f"{why}; `tether logs {array['job']}` shows its output")
        results = [(i, False, exc, "") for i in range(lo, hi)]
        serialization.write_atomic(ddir.results_dir / name, serialization.dump_chunk(results))
        key = str(ddir.path)
        self._filled[key] = self._filled.get(key, 0) + 1

    def fetch_results(self, ddir: layout.DatasetDir, seen: set[str]) -> list[Chunk]:
        if self.ssh:
            chunks = self.ssh.fetch_results(ddir, seen)
            self._settle(ddir)
            return chunks + self.ssh.fetch_results(ddir, seen)
        self._settle(ddir)
        return self.local.fetch_results(ddir, seen)

    def read_done(self, ddir: layout.DatasetDir) -> dict[str, Any] | None:
        if self.ssh and ddir.read_done() is None:
            self.ssh.read_done(ddir)  # a pull (when due): brings new chunks
        return self._settle(ddir)

    # -- following and stopping ----------------------------------------------------------------
    def job_ended(self, ddir: layout.DatasetDir, job_number: int) -> tuple[str, str | None] | None:
        if self._settle(ddir) is not None:
            return None
        why = self._cancelled.get(str(ddir.path))
        return ("cancelled", why) if why else None

    def job_status(self, job_number: int) -> tuple[str, str | None]:
        return self.local.job_status(job_number)  # the store's record, refreshed by its backend

    def cancel(self, job_number: int, grace: float = 10.0) -> None:
        """Cancel the dataset's arrays (the Slurm backend: one ``scancel``; Slurm's KillWait is
        the grace)."""
        numbers = {job_number}
        for arrays in self._arrays.values():
            if any(a["job"] == job_number for a in arrays):
                numbers.update(a["job"] for a in arrays)
        self.local.cancel_jobs(sorted(numbers), grace=grace)


def make_target(spec: HostSpec, home: Path) -> SlurmTarget:
    """The target for a Slurm host (``scheduler = "slurm"``)."""
    return SlurmTarget(spec, home)
