"""This machine: the agent runs each job under a supervisor; its record is in the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.agent import lifecycle
from tether.backends.base import Change, RunRequest, Submitted
from tether.errors import UsageError
from tether.jobs.status import QUEUED, RUNNING
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
    return list(store.iter_where("status = ? AND backend = 'local'", (RUNNING,)))


def schedule_extra(values: dict[str, Any], gpus_text: str | None) -> dict[str, Any]:
    """``{"gate": ..., "retry": ...}`` for jobs run on this machine (``{}`` when none given);
    an unknown job, a bad value or ``--gpus``/``--gpu-mem`` this machine or its agent can
    never give is refused."""
    from tether.agent import gpus
    from tether.jobs import depends, retry
    from tether.paths import tether_home

    extra: dict[str, Any] = retry.options(
        values.get("retry"), values.get("retry_delay"), values.get("retry_on")
    )
    gate: dict[str, Any] = {}
    after, after_any = values.get("after", ()), values.get("after_any", ())
    store = JobStore(tether_home()) if gpus_text is not None or after or after_any else None
    try:
        # the GPUs `agent start --gpus` left the agent
        allowed_set = gpus.allowed(store) if store is not None and gpus_text is not None else None
        want = gpus.request(gpus_text, values.get("gpu_mem"), allowed_set)
        if want:
            gate["gpus"] = want
        if store is not None and (after or after_any):
            gate.update(depends.gate(store, after, after_any))
    finally:
        if store is not None:
            store.close()
    if gate:
        extra["gate"] = gate
    return extra


def job_specs(request: RunRequest) -> list[JobSpec]:
    """The specs of the jobs ``request`` asks for on this machine (or on a Slurm cluster):
    one per command of a batch or point of a sweep; the program is checked for each."""
    from tether.jobs.submit import build_spec, captured_env
    from tether.tuning.values import parse_assignments

    params = parse_assignments(request.params)
    ref = request.git_ref
    if request.points is not None:
        captured = captured_env()
        command, name, extra = list(request.command), request.name, request.extra
        return [
            build_spec(command, name=name, env=captured, params=point, extra=extra, git_ref=ref)
            for point in request.points
        ]
    specs: list[JobSpec] = []
    env = None
    for argv in batch_commands(request):
        spec = build_spec(argv, name=request.name, env=env, params=params, extra=request.extra,
                          git_ref=request.git_ref)  # fmt: skip
        env = spec.env
        specs.append(spec)
    return specs


def check_what_to_run(request: RunRequest) -> None:
    """A ``run`` names one command or gives ``--batch``, not both and not neither."""
    if request.batch_text is not None and request.command:
        raise UsageError("give either --batch FILE or a command, not both")
    if request.batch_text is None and not request.command:
        raise UsageError("nothing to run: give a SCRIPT.py or `-- COMMAND ARGS...`")


def batch_commands(request: RunRequest) -> list[list[str]]:
    """The command of each job of a ``run``: the one given, or each line of ``--batch``."""
    from tether.jobs.submit import parse_batch

    check_what_to_run(request)
    if request.batch_text is not None:
        argvs = parse_batch(request.batch_text)
        if not argvs:
            raise UsageError(f"{request.batch_from}: no commands in it")
        return argvs
    return [list(request.command)]


def rerun_spec_for(store: JobStore, old: Job, change: Change) -> JobSpec:
    """The next attempt of ``old``, built from its program as kept in this store, with
    ``change`` (for the backends whose jobs' programs are kept here: this machine, a cluster)."""
    from tether.tuning.rerun import rerun_spec

    return rerun_spec(
        store.home,
        old,
        overrides=change.overrides,
        edited_source=change.edited_source,
        name=change.name,
        extra=change.extra,
    )


class LocalBackend:
    """Jobs of this machine's agent (``Job.backend == "local"``)."""

    kind = "local"

    def submit(self, host: str, request: RunRequest) -> list[Submitted]:
        """Jobs for this machine's agent; ``--gpus`` and ``--gpu-mem`` are GPU slots here."""
        from tether.backends.slurm_submit import refuse_resources

        resources = dict(request.resources)
        gpus_text = resources.pop("gpus", None)
        refuse_resources(resources, None)
        more = schedule_extra(request.schedule, gpus_text)
        request = replace(request, extra={**request.extra, **more})
        return [Submitted(job, job.to_json()) for job in queue(job_specs(request))]

    def list_jobs(
        self, store: JobStore, host: str, *, statuses: Sequence[str], limit: int | None
    ) -> list[dict[str, Any]]:
        """Every record here: this machine's jobs and those of other hosts it keeps."""
        from tether.backends.choose import refresh_many
        from tether.jobs.views import listing

        jobs = refresh_many(store, store.jobs(statuses=statuses or None, limit=limit, listing=True))
        return listing(jobs)

    def refresh(self, store: JobStore, jobs: Sequence[Job], *, fresh: bool = False) -> list[Job]:
        return [lifecycle.refresh(store, job) for job in jobs]

    def endings(self, store: JobStore, jobs: Sequence[Job]) -> Iterator[tuple[Job, Job | None]]:
        from tether.backends.polling import poll_endings

        yield from poll_endings(store, [job.number for job in jobs], self.refresh)

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        return [lifecycle.cancel(store, job, grace=grace) for job in jobs]

    def rerun(self, store: JobStore, old: Job, change: Change) -> Job:
        spec = rerun_spec_for(store, old, change)
        return queue([replace(spec, backend=self.kind)], store.home)[0]

    def show(self, store: JobStore, job: Job) -> dict[str, Any]:
        from tether.jobs.views import show_json

        return show_json(lifecycle.refresh(store, job), store.home)

    def files_here(self, store: JobStore, job: Job) -> Path:
        return Path(job.job_dir)

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        """The job's output as it comes; while it is queued, the agent is woken (started
        if none runs: one killed as the job was queued) every few seconds."""
        import time

        from tether.agent import control
        from tether.backends.polling import follow_file

        woken = [time.monotonic()]

        def refresh(store: JobStore, jobs: Sequence[Job]) -> list[Job]:
            fresh = self.refresh(store, jobs)
            if any(j.status == QUEUED for j in fresh) and time.monotonic() - woken[0] > 2.0:
                woken[0] = time.monotonic()
                control.ensure_running(store.home)
            return fresh

        yield from follow_file(store, job, start, refresh)

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        from tether import __version__
        from tether.targets.probe import local_probe
        from tether.targets.ssh.remote_probe import ProbeRow

        return ProbeRow(host, local_probe(), __version__)
