"""This machine: the agent runs each job under a supervisor; its record is in the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tether.agent import lifecycle
from tether.jobs import logs
from tether.store.jobs import Job, JobSpec, JobStore

if TYPE_CHECKING:
    from tether.targets.ssh.remote_probe import ProbeRow


def queue(specs: list[JobSpec], home: Path | None = None) -> list[Job]:
    """Store the jobs and make sure this machine's agent is running to run them."""
    from tether.agent import control
    from tether.errors import AgentError
    from tether.jobs.submit import add_jobs
    from tether.paths import tether_home

    home = home or tether_home()
    jobs = add_jobs(specs, home)
    try:
        control.ensure_running(home)
    except AgentError as exc:
        numbers = ", ".join(f"#{job.number}" for job in jobs)
        what = "job" if len(jobs) == 1 else "jobs"
        raise AgentError(f"{what} {numbers} queued, but {exc}") from None
    return jobs


def running_jobs(store: JobStore) -> list[Job]:
    """The jobs this machine's agent is running now."""
    from tether.store.jobs import RUNNING

    return list(store.iter_where("status = ? AND backend = 'local'", (RUNNING,)))


class LocalBackend:
    """Jobs of this machine's agent (``Job.backend == "local"``)."""

    kind = "local"

    def refresh(self, store: JobStore, jobs: Sequence[Job]) -> list[Job]:
        return [lifecycle.refresh(store, job) for job in jobs]

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        return [lifecycle.cancel(store, job, grace=grace) for job in jobs]

    def resubmit(self, store: JobStore, spec: JobSpec, old: Job) -> Job:
        return queue([replace(spec, backend=self.kind)], store.home)[0]

    def files_here(self, store: JobStore, job: Job) -> Path:
        return Path(job.job_dir)

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        number = job.number

        def finished() -> bool:
            return lifecycle.refresh(store, store.get(number)).finished

        yield from logs.follow(Path(job.log_path), start=start, is_done=finished)

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        from tether import __version__
        from tether.targets.probe import local_probe
        from tether.targets.ssh.remote_probe import ProbeRow

        return ProbeRow(host, local_probe(), __version__)
