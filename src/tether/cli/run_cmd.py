"""``tether run`` and ``tether rerun``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from tether.api.types import Job
from tether.cli.context import (
    ctrl_c_detaches,
    json_option,
    max_size_value,
    on_option,
    open_store,
    print_json,
    resolve_job,
    runs_elsewhere,
)
from tether.cli.notify_options import notify_options
from tether.cli.resource_options import resource_options, take_resource_values
from tether.cli.schedule_options import schedule_options, take_schedule_values
from tether.config import check_config_files
from tether.errors import UsageError
from tether.tuning.values import parse_assignments

if TYPE_CHECKING:
    from tether.backends.base import Submitted

param_option = click.option(
    "--param",
    "-p",
    "param",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a tunable (repeatable): -p lr=0.001 -p layers=3.",
)


def _announce(submitted: list[Submitted], as_json: bool, wait: bool) -> None:
    jobs = [s.job for s in submitted]
    notes = [n for job in jobs for n in (job.extra or {}).get("param_notes", [])]
    for note in dict.fromkeys(notes):  # e.g. a -p value that changes a tunable's type
        click.echo(f"tether: note: {note}", err=True)
    if as_json:
        shown = [s.shown for s in submitted]
        print_json(shown[0] if len(shown) == 1 else shown)
        return
    if wait:
        for job in jobs:
            click.echo(f"tether: job #{job.number} ({job.name}) queued{_on(job)}", err=True)
        return
    for job in jobs:
        click.echo(job.number)
    if len(jobs) == 1 and sys.stderr.isatty():
        if jobs[0].host != "local":
            click.echo(f"tether: job #{jobs[0].number} (uuid {jobs[0].uuid}) queued"
                       f"{_on(jobs[0])}", err=True)  # fmt: skip
        click.echo(f"follow it with: tether logs -f {jobs[0].number}", err=True)


def _on(job: Job) -> str:
    """`` on HOST`` for a job of another host, else nothing."""
    return "" if job.host == "local" else f" on {job.host}"


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
    """Follow the jobs until they end (one job: its output, then each retry's), saying as
    each ends; exit with the first non-zero exit code."""
    from tether.api.watch import exit_code_of, follow_job
    from tether.backends import endings
    from tether.jobs.retry import label

    store = open_store()
    out = sys.stdout.buffer
    single = len(jobs) == 1
    host = None if jobs[0].host == "local" else jobs[0].host

    def stream(number: int) -> None:
        sys.stdout.flush()  # what was printed as text (the job's JSON) comes first
        for chunk in follow_job(store, number):
            out.write(chunk)
            out.flush()

    finals: list[Job] = []
    with ctrl_c_detaches([job.number for job in jobs], host):
        if single:
            stream(jobs[0].number)
        for ended, nxt in endings(store, jobs):
            line = f"tether: job #{ended.number}{_on(ended)} {ended.status}"
            if ended.status != "succeeded":
                line += f" ({ended.reason})"
            if nxt is not None:
                click.echo(f"{line}; {label(nxt.extra)} started as job #{nxt.number}", err=True)
                if single:
                    stream(nxt.number)
                continue
            finals.append(ended)
            if not single or ended.status != "succeeded":
                click.echo(line, err=True)
    codes = [exit_code_of(j) for j in finals]
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
@click.option(
    "--no-env",
    is_flag=True,
    help="On a host: do not make (or check) the project's env there first.",
)
@click.option(
    "--max-size",
    "max_size",
    metavar="SIZE",
    help="On a host: refuse, sending nothing, when the sync would send more (e.g. 500MB; "
    "0 or none: no cap; default: [sync] max_size in tether.toml, else 100MB).",
)
@click.option(
    "--git",
    "git_ref",
    metavar="REF",
    help="Run the script as committed at REF (a commit, branch or tag): a clean checkout, "
    "not the files as they are here.",
)
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
    no_env: bool = False,
    max_size: str | None = None,
    git_ref: str | None = None,
    **notify: Any,
) -> None:
    """Run SCRIPT.py [ARGS...] or -- COMMAND [ARGS...] as a detached job; prints its number.

    -p NAME=VALUE sets a tunable of the script: a module-level constant (rewritten in the
    job's copy, never in your file) or a tether.param("NAME", default) call.
    """
    from tether.api.running import run as run_jobs
    from tether.backends import RunRequest
    from tether.cli import argv_checks

    if module:  # the module's own arguments may look like options
        argv_checks.warn_options_after_script((module, *command))
        command = ("-m", module, *command)
    else:
        argv_checks.refuse_unknown_option(run, command)
        argv_checks.warn_options_after_script(command)
        command = argv_checks.command_for_params(command, bool(param))
    check_config_files(Path.cwd())
    from tether.notifications.routing import check_config_settings

    check_config_settings(Path.cwd())  # bad [notify] values: refused now, not queued
    if batch != "-":
        _note_unread_stdin()
    resources = take_resource_values(notify)
    schedule = take_schedule_values(notify)
    batch_text = None
    if batch:
        if command:
            raise UsageError("give either --batch FILE or a command, not both")
        batch_text = sys.stdin.read() if batch == "-" else Path(batch).read_text()
    request = RunRequest(
        command=command,
        batch_text=batch_text,
        batch_from=batch or "--batch",
        name=name,
        params=param,
        notify=notify,
        schedule=schedule,
        resources=resources,
        say=sys.stderr if sys.stderr.isatty() else None,
        use_env=not no_env,
        sync_max_size=max_size_value(max_size),
        git_ref=git_ref,
    )
    submitted = run_jobs(request, on=host)
    _announce(submitted, as_json, wait)
    if wait:
        _wait_and_exit([s.job for s in submitted])


@click.command()
@click.option("--name", "-n", help="A name for the new job (default: the old one's).")
@click.option("--wait", "-w", is_flag=True, help="Follow the output; exit with the job's code.")
@click.option("--edit", "-e", is_flag=True, help="Edit the program in $EDITOR first.")
@click.option(
    "--program",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="Run this file's text in place of JOB's program (- reads stdin).",
)
@param_option
@on_option
@json_option
@click.argument("job", required=False)
def rerun(
    name: str | None,
    wait: bool,
    edit: bool,
    program: IO[str] | None,
    param: tuple[str, ...],
    host: str | None,
    as_json: bool,
    job: str | None,
) -> None:
    """Run JOB again as a new job (its parent is JOB), from JOB's version of the program,
    where JOB ran.

    With -p the new job gets more overrides on top of JOB's; with --edit you edit JOB's
    program first, with --program you give its new text (refused, and nothing queued, if it
    does not compile).
    """
    from tether.api.jobs import rerun_job

    if edit and program is not None:
        raise UsageError("give --edit or --program, not both")
    if host is not None and runs_elsewhere(host):
        _rerun_on(host, job, param, program, name, as_json, wait, edit)
        return
    store = open_store()
    old = resolve_job(store, job)
    overrides = parse_assignments(param)
    if edit and "version" not in old.extra:
        raise UsageError(f"job #{old.number} has no stored program to edit or change")
    edited = _edit_program(old) if edit else program.read() if program is not None else None
    jobs = rerun_job(store, old, overrides=overrides, edited_source=edited, name=name)
    from tether.backends.base import Submitted

    _announce([Submitted(job, job.to_json()) for job in jobs], as_json, wait)
    if wait:
        _wait_and_exit(jobs)


def _rerun_on(
    host: str,
    job: str | None,
    param: tuple[str, ...],
    program: IO[str] | None,
    name: str | None,
    as_json: bool,
    wait: bool,
    edit: bool,
) -> None:
    """``rerun --on HOST JOB``: the host re-runs its job JOB; the new job is recorded here."""
    from tether.api.commands import rerun as rerun_there
    from tether.backends.base import Submitted

    if edit:
        raise UsageError(f"--edit needs the program here; give --program FILE with --on {host}")
    rows = rerun_there(
        job,
        params=parse_assignments(param),
        program=program.read() if program is not None else None,
        name=name,
        on=host,
    )
    store = open_store()
    submitted = [Submitted(store.get(int(row["local_number"])), row) for row in rows]
    _announce(submitted, as_json, wait)
    if wait:
        _wait_and_exit([s.job for s in submitted])


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
