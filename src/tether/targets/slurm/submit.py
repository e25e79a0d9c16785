"""Submitting jobs to a Slurm host: records in the local store, one sbatch call per job.

Both modes share this code; only the places differ:

* DEST ``local`` (tether runs on the login node): the job's folder on the cluster IS its
  local job folder, so ``logs``, ``scalars`` and notifications read it directly;
* over ssh (laptop mode): the project is synced first and tether installed on the login
  node (so ``tether.report()`` works in the job); the job runs in the synced project
  folder and writes to ``~/.tether/slurm/jobs/<uuid>/`` there.

The job's folder holds ``output.log`` (Slurm's ``--output``: stdout and stderr) and what the
program reports (``TETHER_JOB_DIR``). The script submitted is also kept in the local job
folder as ``job.sbatch``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from tether.errors import TetherError, UsageError
from tether.jobs import state
from tether.jobs.status import FAILED, QUEUED
from tether.runtime import context
from tether.store.jobs import Job, JobSpec, JobStore
from tether.targets.slurm.cluster import SlurmCluster
from tether.targets.slurm.resources import Resources, merge, parse_resources
from tether.targets.slurm.script import load_template, render_script
from tether.targets.ssh.hostspec import HostSpec

REMOTE_JOBS = ".tether/slurm/jobs"
"""Where laptop-mode jobs keep their folders on the cluster (relative to the home)."""
OUTPUT_FILE = "output.log"
SCRIPT_FILE = "job.sbatch"
REMOTE_PYTHON = ".tether/venv/bin/python"
REMOTE_PROGRAMS = ".tether/slurm/programs"


@dataclass(frozen=True)
class Placement:
    """Where on the cluster a submission's jobs run."""

    local: bool
    home: str | None = None
    """The cluster user's home (laptop mode)."""
    workdir: str | None = None
    """The synced project folder the jobs run in (laptop mode)."""
    python: str | None = None
    """The python of the project's env on the cluster (laptop mode; None: tether's own)."""

    def job_folder(self, job: Job) -> str:
        """The job's folder on the cluster."""
        if self.local:
            return job.job_dir
        return f"{self.home}/{REMOTE_JOBS}/{job.uuid}"


def host_resources(host: HostSpec) -> Resources:
    """The host's defaults: its ``resources`` table plus its partition and account."""
    values: dict[str, Any] = dict(host.resources)
    if host.partition:
        values["partition"] = host.partition
    if host.account:
        values["account"] = host.account
    return parse_resources(**values)


def host_template(host: HostSpec) -> str | None:
    """The host's template text (checked), or None for the built-in one."""
    if host.template is None:
        return None
    return load_template(os.path.expanduser(host.template))


def job_env(job: Job, folder: str) -> dict[str, str]:
    """What the job's script exports: where to report to, which job it is, its parameters,
    and the job's own extra variables (``job.env``; Slurm passes the submitter's on)."""
    env = {
        context.ENV_JOB_DIR: folder,
        context.ENV_JOB_NUMBER: str(job.number),
        context.ENV_JOB_UUID: job.uuid,
        "PYTHONUNBUFFERED": "1",
    }
    params = job.extra.get("params")
    if params:
        import json

        env[context.ENV_PARAMS] = json.dumps(params)
    return {**(job.env or {}), **env}


def job_script(
    job: Job,
    resources: Resources,
    placement: Placement,
    template: str | None,
) -> tuple[str, str]:
    """The job's sbatch script and its folder on the cluster."""
    folder = placement.job_folder(job)
    job_resources = replace(resources, job_name=job.name, output=f"{folder}/{OUTPUT_FILE}")
    workdir = job.cwd if placement.local else (placement.workdir or job.cwd)
    script = render_script(job_resources, job.command, workdir, job_env(job, folder), template)
    return script, folder


def prepare(
    host: HostSpec, say: IO[str] | None = None, *, max_size: int | None = None
) -> Placement:
    """Get the cluster ready: nothing in local mode; sync (``max_size``: the cap on what it
    sends) and install over ssh."""
    if host.is_local:
        return Placement(local=True)
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.remote_jobs import ensure_tether, project_folder
    from tether.targets.ssh.sync import describe, sync_project
    from tether.targets.ssh.transport import Transport

    project = find_project()
    transport = Transport(host)
    synced = sync_project(transport, project, max_size=max_size)
    if say is not None:
        say.write(f"tether: {describe(synced, host.name)}\n")
    ensure_tether(transport, say)
    home = remote_home(host)
    return Placement(local=False, home=home, workdir=f"{home}/{project_folder(project)}")


def remote_home(host: HostSpec) -> str:
    """The cluster user's home, asked once and remembered in the store's settings."""
    from tether.paths import tether_home

    store = JobStore(tether_home())
    try:
        key = f"slurm.home.{host.name}"
        saved = store.get_setting(key)
        if saved and saved.startswith(f"{host.dest}\t"):
            return saved.split("\t", 1)[1]
        home = SlurmCluster(host).home()
        store.set_setting(key, f"{host.dest}\t{home}")
        return home
    finally:
        store.close()


def job_specs(
    host: HostSpec,
    placement: Placement,
    argvs: Sequence[Sequence[str]],
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[JobSpec]:
    """Job specs for ``argvs``: a ``.py`` program runs with this Python (stored copy, with
    ``params``) here, or over ssh with the project's env on the cluster
    (``placement.python``), else tether's Python on the login node (``params`` applied to a
    copy put there, see :func:`remote_program`)."""
    from tether.jobs.submit import build_spec

    specs = []
    for argv in argvs:
        if not argv:
            raise UsageError("nothing to run: give a SCRIPT.py or `-- COMMAND ARGS...`")
        if placement.local:
            spec = build_spec(list(argv), name=name, env={}, params=dict(params or {}),
                              extra=dict(extra or {}))  # fmt: skip
            spec.env = None
        else:
            command, more, env = list(argv), dict(extra or {}), None
            if command[0].endswith(".py") and params:
                program, env, applied = remote_program(host, placement, command[0], params)
                command[0] = program
                more.update(applied)
            elif params:
                more["params"] = dict(params)
            if command[0].endswith(".py") or (command[0] == "-m" and len(command) > 1):
                python = placement.python or f"{placement.home}/{REMOTE_PYTHON}"
                command = [python, *command]  # as `python ...`
            spec = JobSpec(
                command=command,
                cwd=placement.workdir or "",
                name=name or (argv[1] if argv[0] == "-m" and len(argv) > 1 else Path(argv[0]).name),
                env=env,
                extra=more,
            )
        specs.append(replace(spec, target=host.name, backend="slurm"))
    return specs


def remote_program(
    host: HostSpec, placement: Placement, script: str, params: Mapping[str, object]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Laptop mode with ``-p``: the script with its parameters applied, put on the cluster.

    The copy is kept by content under ``~/.tether/slurm/programs/``; the job runs it with
    the script's folder of the synced project on ``PYTHONPATH`` (its sibling modules import
    as usual) from the project folder. Returns the copy's path, the job's extra variables
    and the ``extra`` entries recording the change (as for local jobs).
    """
    import hashlib
    import posixpath

    from tether.errors import ProgramError
    from tether.tuning.tunables import apply_overrides, decode_source

    local = Path(script)
    if not local.is_file():
        raise ProgramError(f"{script}: no such file (looked in {os.getcwd()})")
    source = decode_source(local.read_bytes(), filename=script)
    result = apply_overrides(source, params, filename=script)
    data = result.source.encode("utf-8")
    folder = f"{placement.home}/{REMOTE_PROGRAMS}/{hashlib.sha256(data).hexdigest()[:16]}"
    SlurmCluster(host).put(folder, local.name, data)
    here = posixpath.normpath(posixpath.join(placement.workdir or "", posixpath.dirname(script)))
    applied: dict[str, Any] = {"params": dict(params)}
    if result.diff:
        applied["param_diff"] = result.diff
    if result.notes:
        applied["param_notes"] = list(result.notes)
    return f"{folder}/{local.name}", {"PYTHONPATH": here}, applied


def submit_jobs(
    host: HostSpec,
    specs: Sequence[JobSpec],
    resources: Resources | None,
    placement: Placement,
    *,
    home: Path | None = None,
) -> list[Job]:
    """Record ``specs`` and submit each with ``sbatch``; the jobs, now with their Slurm ids.

    Resources and the template are checked before anything is recorded or submitted. A job
    sbatch refuses is recorded ``failed`` (with sbatch's message), and so are the jobs after
    it, which are not submitted; the error is raised.
    """
    from tether.paths import tether_home

    merged = merge(host_resources(host), resources)
    template = host_template(host)
    store = JobStore(home or tether_home())
    try:
        jobs = store.add_many(specs)
        # render every script before submitting any: a bad value fails with nothing submitted
        try:
            scripts = [job_script(job, merged, placement, template) for job in jobs]
        except BaseException:
            store.delete(job.number for job in jobs)
            raise
        cluster = SlurmCluster(host)
        submitted: list[Job] = []
        for index, (job, (script, folder)) in enumerate(zip(jobs, scripts, strict=True)):
            Path(job.job_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
            (Path(job.job_dir) / SCRIPT_FILE).write_text(script)
            try:
                slurm_id = cluster.submit(script, folder)
            except TetherError as exc:
                for left in jobs[index:]:
                    state.finish(store, left.number, FAILED, exit_code=None,
                                 reason=f"not submitted: {exc}", expected=QUEUED)  # fmt: skip
                raise
            store.update(job.number, remote_id=str(slurm_id))
            store.merge_extra(
                job.number,
                slurm_id=slurm_id,
                slurm_dir=folder,
                slurm_output=f"{folder}/{OUTPUT_FILE}",
                slurm_local=placement.local,
                slurm_resources=resources.as_dict() if resources is not None else {},
            )
            submitted.append(store.get(job.number))
        return submitted
    finally:
        store.close()


SLURM_KEYS = ("slurm_id", "slurm_dir", "slurm_output", "slurm_local", "slurm_resources")
"""What a job's ``extra`` says about its Slurm submission (not inherited by a re-run)."""


def resubmit(spec: JobSpec, resources: dict[str, Any], home: Path | None = None) -> Job:
    """A re-run (``tether rerun``, ``rerun`` by mail) of a Slurm job, built by the caller
    from the old job: submitted to the same host with the same resources.

    Over ssh the copy of the project is used as it is (no sync), and new parameters are
    refused: the program there was written with the old ones.
    """
    from tether.targets.ssh.hosts_config import get_host

    host = get_host(spec.target)
    extra = {k: v for k, v in spec.extra.items() if k not in SLURM_KEYS}
    if host.is_local:
        placement = Placement(local=True)
    else:
        if extra.get("params"):
            raise UsageError(
                f"a re-run on {host.name} (over ssh) cannot change parameters; "
                f"use `tether run --on {host.name} -p ...`"
            )
        placement = Placement(local=False, home=remote_home(host), workdir=spec.cwd)
    job_spec = replace(spec, extra=extra)
    return submit_jobs(host, [job_spec], parse_resources(**resources), placement, home=home)[0]


def show_script(
    host: HostSpec, resources: Resources | None, command: Sequence[str], name: str | None = None
) -> str:
    """The script ``run --on HOST`` would submit for ``command`` (as job #0, folder ``UUID``)."""
    from tether.paths import tether_home

    if not command:
        raise UsageError("give the command to show the script for: -- COMMAND ARGS...")
    merged = merge(host_resources(host), resources)
    if host.is_local:
        folder, cwd = str(tether_home() / "jobs" / "UUID"), os.getcwd()
    else:
        folder, cwd = f"~/{REMOTE_JOBS}/UUID", "~/tether/projects/PROJECT"
    job = Job(
        number=0, uuid="UUID", name=name or Path(command[0]).name, command=list(command),
        cwd=cwd, env=None, target=host.name, status=QUEUED, exit_code=None, reason=None,
        pid=None, pid_started=None, supervisor_pid=None, supervisor_started=None, created=0.0,
        started=None, ended=None, parent=None, job_dir=folder, log_path="",
        cancel_requested=False, script=None, extra={}, backend="slurm",
    )  # fmt: skip
    script, _ = job_script(job, merged, Placement(local=True), host_template(host))
    return script
