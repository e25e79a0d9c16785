"""``tether run`` and ``tether rerun``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tether.cli.context import (
    ctrl_c_detaches,
    json_option,
    open_store,
    print_json,
    resolve_job,
)
from tether.cli.notify_options import notify_extra, notify_options
from tether.cli.schedule_options import schedule_extra, schedule_options, take_schedule_values
from tether.config import check_config_files
from tether.errors import UsageError
from tether.jobs.submit import build_spec, parse_batch
from tether.store.jobs import Job, JobSpec
from tether.targets.slurm.options import resource_options, take_resource_values
from tether.tuning.values import parse_assignments

param_option = click.option(
    "--param",
    "-p",
    "param",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a tunable (repeatable): -p lr=0.001 -p layers=3.",
)


def _announce(jobs: list[Job], as_json: bool, wait: bool) -> None:
    notes = [n for job in jobs for n in (job.extra or {}).get("param_notes", [])]
    for note in dict.fromkeys(notes):  # e.g. a -p value that changes a tunable's type
        click.echo(f"tether: note: {note}", err=True)
    if as_json:
        print_json([j.to_json() for j in jobs] if len(jobs) != 1 else jobs[0].to_json())
        return
    if wait:
        for job in jobs:
            click.echo(f"tether: job #{job.number} ({job.name}) queued", err=True)
        return
    for job in jobs:
        click.echo(job.number)
    if len(jobs) == 1 and sys.stderr.isatty():
        click.echo(f"follow it with: tether logs -f {jobs[0].number}", err=True)


def _note_unread_stdin() -> None:
    """Say so when data is piped into ``tether run``: the job runs detached and gets none."""
    import os
    import select
    import stat

    try:
        st = os.fstat(0)
        if stat.S_ISREG(st.st_mode):
            piped = st.st_size > 0
        elif stat.S_ISFIFO(st.st_mode):
            piped = bool(select.select([0], [], [], 0)[0]) and bool(os.read(0, 1))
        else:
            piped = False
    except (OSError, ValueError):
        return
    if piped:
        click.echo(
            "tether: note: the job does not read this standard input (jobs run detached, with "
            "no stdin); give the data as a file instead, e.g. `tether run main.py input.txt`",
            err=True,
        )


def _wait_and_exit(jobs: list[Job]) -> None:
    from tether.api.watch import endings, exit_code_of, follow_job, next_attempt, wait_for
    from tether.jobs.retry import label

    store = open_store()
    out = sys.stdout.buffer
    if len(jobs) == 1:  # follow its output, then each retry's
        number: int | None = jobs[0].number
        while number is not None:
            for chunk in follow_job(store, number):
                out.write(chunk)
                out.flush()
            nxt = next_attempt(store, number)
            if nxt is not None:
                ended = store.get(number)
                click.echo(
                    f"tether: job #{number} {ended.status} ({ended.reason});"
                    f" {label(nxt.extra)} started as job #{nxt.number}",
                    err=True,
                )
            number = nxt.number if nxt is not None else None
    else:  # a batch: a line as each job ends, and as a retry of one starts
        for ended, nxt in endings(store, [j.number for j in jobs]):
            line = f"tether: job #{ended.number} {ended.status}"
            if ended.status != "succeeded":
                line += f" ({ended.reason})"
            if nxt is not None:
                line += f"; {label(nxt.extra)} started as job #{nxt.number}"
            click.echo(line, err=True)
    finished = wait_for(store, [j.number for j in jobs])
    codes = [exit_code_of(j) for j in finished]
    if len(jobs) == 1 and finished[0].status != "succeeded":
        job = finished[0]
        click.echo(f"tether: job #{job.number} {job.status} ({job.reason})", err=True)
    sys.exit(next((c for c in codes if c), 0))


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--name", "-n", help="A name for the job (default: the script's file name).")
@click.option("--wait", "-w", is_flag=True, help="Follow the output; exit with the job's code.")
@click.option(
    "--batch",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Queue one job per line of FILE (shell-quoted commands; - for stdin).",
)
@click.option(
    "--on",
    "host",
    metavar="HOST",
    help="Run on this host (default: tether.toml's; local: here; auto: the least busy host).",
)
@click.option("-m", "module", metavar="MODULE", help="Run a module, as `python -m MODULE`.")
@param_option
@resource_options
@schedule_options
@notify_options
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    name: str | None,
    module: str | None,
    wait: bool,
    batch: str | None,
    param: tuple[str, ...],
    as_json: bool,
    command: tuple[str, ...],
    host: str | None = None,
    **notify: Any,
) -> None:
    """Run SCRIPT.py [ARGS...] or -- COMMAND [ARGS...] as a detached job; prints its number.

    -p NAME=VALUE sets a tunable of the script: a module-level constant (rewritten in the
    job's copy, never in your file) or a tether.param("NAME", default) call.
    """
    from tether.cli import argv_checks
    from tether.cli.remote_run import pick_host, remote_dependencies, run_remote

    if module:  # the module's own arguments may look like options
        argv_checks.warn_options_after_script((module, *command))
        command = ("-m", module, *command)
    else:
        argv_checks.refuse_unknown_option(run, command)
        argv_checks.warn_options_after_script(command)
        command = argv_checks.command_for_params(command, bool(param))
    check_config_files(Path.cwd())
    from tether.notify.routing import check_config_settings

    check_config_settings(Path.cwd())  # bad [notify] values: refused now, not queued
    if batch != "-":
        _note_unread_stdin()
    remote = pick_host(host)
    slurm = take_resource_values(notify)
    sched = take_schedule_values(notify)
    gpus_text: str | None = None
    if remote is not None or slurm:
        from tether.backends import slurm_submit

        cluster = slurm_submit.slurm_host(remote)
        if cluster is None:
            gpus_text = slurm.pop("gpus", None)  # GPU slots of this machine or the SSH host
            slurm_submit.refuse_resources(slurm, remote)
        else:
            values = slurm_submit.with_schedule(slurm, sched)
            jobs = slurm_submit.run(cluster, name=name, wait=wait, batch=batch, as_json=as_json,
                                 params=parse_assignments(param), command=command,
                                 extra=notify_extra(**notify), values=values)  # fmt: skip
            _announce(jobs, as_json, wait)
            if wait:
                with ctrl_c_detaches([job.number for job in jobs]):
                    _wait_and_exit(jobs)
            return
    if remote is not None:
        forwarded = {**notify, **sched, **({"gpus": gpus_text} if gpus_text else {})}
        forwarded = remote_dependencies(remote, forwarded)
        run_remote(remote, name=name, wait=wait, batch=batch, param=param, as_json=as_json,
                   command=command, notify=forwarded)  # fmt: skip
        return
    params = parse_assignments(param)
    extra = {**notify_extra(**notify), **schedule_extra(sched, gpus_text)}
    if batch:
        if command:
            raise UsageError("give either --batch FILE or a command, not both")
        text = sys.stdin.read() if batch == "-" else Path(batch).read_text()
        specs: list[JobSpec] = []
        env = None
        for argv in parse_batch(text):
            spec = build_spec(argv, name=name, env=env, params=params, extra=extra)
            env = spec.env
            specs.append(spec)
        if not specs:
            raise UsageError(f"{batch}: no commands in it")
    else:
        specs = [build_spec(list(command), name=name, params=params, extra=extra)]
    from tether.backends.local import queue

    jobs = queue(specs)
    _announce(jobs, as_json, wait)
    if wait:
        with ctrl_c_detaches([job.number for job in jobs]):
            _wait_and_exit(jobs)


@click.command()
@click.option("--name", "-n", help="A name for the new job (default: the old one's).")
@click.option("--wait", "-w", is_flag=True, help="Follow the output; exit with the job's code.")
@click.option("--edit", "-e", is_flag=True, help="Edit the program in $EDITOR first.")
@param_option
@json_option
@click.argument("job", required=False)
def rerun(
    name: str | None,
    wait: bool,
    edit: bool,
    param: tuple[str, ...],
    as_json: bool,
    job: str | None,
) -> None:
    """Run JOB again as a new job (its parent is JOB), from JOB's version of the program.

    With -p the new job gets more overrides on top of JOB's; with --edit you edit JOB's
    program first (refused, and nothing queued, if it does not compile).
    """
    from tether.api.jobs import rerun_job

    store = open_store()
    old = resolve_job(store, job)
    overrides = parse_assignments(param)
    if edit and "version" not in old.extra:
        raise UsageError(f"job #{old.number} has no stored program to edit or change")
    edited = _edit_program(old) if edit else None
    jobs = rerun_job(store, old, overrides=overrides, edited_source=edited, name=name)
    _announce(jobs, as_json, wait)
    if wait:
        with ctrl_c_detaches([job.number for job in jobs]):
            _wait_and_exit(jobs)


def _edit_program(job: Job) -> str:
    """Open $EDITOR on a copy of JOB's program and return the edited text."""
    import os
    import shlex
    import subprocess
    import tempfile

    from tether.paths import tether_home
    from tether.tuning.program import program_source

    source = program_source(tether_home(), job.extra)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="tether-edit-") as folder:
        path = Path(folder, Path(job.extra["entry"]).name)
        path.write_text(source)
        result = subprocess.run([*shlex.split(editor), str(path)])
        if result.returncode != 0:
            raise UsageError(f"the editor ({editor}) exited with {result.returncode}; nothing run")
        return path.read_text()
