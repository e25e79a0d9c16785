"""Slurm clusters: jobs submitted with sbatch, on the login node or over ssh; this machine's
store tracks them (``Job.backend == "slurm"``, ``Job.remote_id`` is the Slurm job id)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.backends.base import Change, RunRequest, Submitted
from tether.store.jobs import Job, JobStore

if TYPE_CHECKING:
    from tether.targets.slurm.states import SlurmJobState
    from tether.targets.ssh.hostspec import HostSpec
    from tether.targets.ssh.remote_probe import ProbeRow


def array_tasks(cluster: HostSpec, slurm_ids: Sequence[str]) -> dict[str, dict[int, SlurmJobState]]:
    """One poll of ``cluster`` (squeue, then sacct for what ended): for each job array named
    by its Slurm id, the state of each of its tasks that Slurm mentions, by task index (a
    Dataset's arrays, whose tasks may end without their results)."""
    from tether.targets.slurm.arrays import task_states
    from tether.targets.slurm.cluster import SlurmCluster

    found = SlurmCluster(cluster).poll(sorted(set(slurm_ids)))
    return {sid: task_states(found, sid) for sid in slurm_ids}


def _watch_here(home: Path | None = None) -> None:
    """Start this machine's agent, which watches the cluster's jobs (records their end,
    sends their notifications)."""
    from tether.agent import control
    from tether.paths import tether_home

    control.ensure_running(home or tether_home())


class SlurmBackend:
    """Jobs on a Slurm cluster; one squeue/sacct poll per cluster brings them all up to date."""

    kind = "slurm"

    def submit(self, host: str, request: RunRequest) -> list[Submitted]:
        """sbatch on the cluster ``host`` (its resource defaults under the flags given), and
        the agent started here to watch the jobs."""
        from tether.backends import slurm_submit
        from tether.backends.local import batch_commands
        from tether.backends.ssh import requirements_for
        from tether.targets.ssh.hosts_config import get_host
        from tether.tuning.values import parse_assignments

        cluster = get_host(host)
        values = slurm_submit.with_schedule(dict(request.resources), request.schedule)
        slurm_submit.resources_of(values)  # a bad value fails before the cluster is asked
        needs = None if cluster.is_local else requirements_for(request)
        if request.points is not None:
            jobs = slurm_submit.submit_sweep(cluster, request.command, request.points, values,
                                             name=request.name, extra=request.extra,
                                             requirements=needs, say=request.say,
                                       max_size=request.sync_max_size)  # fmt: skip
        else:
            argvs = batch_commands(request)
            params = parse_assignments(request.params)
            jobs = slurm_submit.submit(cluster, argvs, values, name=request.name,
                                       params=params, extra=request.extra,
                                       requirements=needs, say=request.say,
                                       max_size=request.sync_max_size)  # fmt: skip
        _watch_here()
        return [Submitted(job, job.to_json()) for job in jobs]

    def list_jobs(
        self, store: JobStore, host: str, *, statuses: Sequence[str], limit: int | None
    ) -> list[dict[str, Any]]:
        """The jobs submitted from here to the cluster ``host`` (this store tracks them),
        brought up to date with one poll."""
        from tether.jobs.views import listing_json

        jobs = store.jobs(statuses=statuses or None, target=host, limit=limit)
        return [listing_json(job) for job in self.refresh(store, jobs)]

    def refresh(self, store: JobStore, jobs: Sequence[Job], *, fresh: bool = False) -> list[Job]:
        from tether.targets.slurm.tracking import refresh_jobs

        return refresh_jobs(store, jobs)

    def endings(self, store: JobStore, jobs: Sequence[Job]) -> Iterator[tuple[Job, Job | None]]:
        from tether.backends.polling import poll_endings

        yield from poll_endings(store, [job.number for job in jobs], self.refresh)

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        """``scancel`` (one call per cluster); Slurm's KillWait is the grace."""
        from tether.targets.slurm.tracking import cancel_jobs

        return cancel_jobs(store, jobs)

    def rerun(self, store: JobStore, old: Job, change: Change) -> Job:
        """To the same cluster with the same resources."""
        from tether.backends.local import rerun_spec_for
        from tether.targets.slurm.submit import resubmit

        spec = rerun_spec_for(store, old, change)
        resources = old.extra.get("slurm_resources") or {}
        job = resubmit(replace(spec, backend=self.kind), resources, store.home)
        _watch_here(store.home)
        return job

    def show(self, store: JobStore, job: Job) -> dict[str, Any]:
        """From the files copied here (over ssh, fetched first while the job runs)."""
        from tether.jobs.views import show_json

        [job] = self.refresh(store, [job])
        self.files_here(store, job)
        return show_json(job, store.home)

    def files_here(self, store: JobStore, job: Job) -> Path:
        from tether.targets.slurm.output import bring_here

        bring_here(job)  # over ssh: copy the job's folder here first
        return Path(job.job_dir)

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        from tether.targets.slurm.output import follow_remote_job, is_remote_output

        if is_remote_output(job):
            yield from follow_remote_job(store, job, start)
        else:
            from tether.backends.polling import follow_file

            yield from follow_file(store, job, start, self.refresh)

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        """The login node's resources (where tether runs on the cluster)."""
        from tether.backends.ssh import probe_host_named

        return probe_host_named(host, timeout=timeout)
