"""Job commands: ``ls``, ``show``, ``wait``, ``cancel``, ``clean``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from tether.api.types import FINISHED, RUNNING, STATUSES, Job, JobStore
from tether.cli import render
from tether.cli.context import json_option, open_store, print_json, resolve_job, runs_elsewhere
from tether.cli.remote_records import remote_job, run_on_host, split_by_host
from tether.errors import UsageError

on_option = click.option(
    "--on", "host", metavar="HOST", help="Jobs on this host (JOB is its number there)."
)


def is_remote(host: str | None) -> bool:
    return runs_elsewhere(host)


def call_on_host(host: str, args: list[str], *, timeout: float | None = 120.0) -> None:
    """Run ``tether ARGS`` on HOST, print its output, exit with its code when not 0."""
    from tether.targets.ssh import remote_jobs

    transport = remote_jobs.transport_for(host)
    result = remote_jobs.call(transport, args, timeout=timeout)
    if "--json" in args and result.returncode == 0:
        import json

        try:
            data = json.loads(result.stdout)
        except ValueError:
            data = None
        rows = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        remote_jobs.update_local(transport.spec.name, rows)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode:
        sys.exit(result.returncode)


@click.command()
@click.option("--status", "-s", type=click.Choice(STATUSES), multiple=True, help="Only these.")
@click.option("--limit", "-n", type=int, help="Only the last N jobs.")
@click.option("--all", "all_hosts", is_flag=True, help="Jobs of this machine and every host.")
@on_option
@json_option
def ls(
    status: tuple[str, ...], limit: int | None, all_hosts: bool, host: str | None, as_json: bool
) -> None:
    """List jobs: number, name, status, runtime, progress, latest metrics."""
    if all_hosts:
        if host is not None:
            raise UsageError("give --all or --on HOST, not both")
        from tether.cli.ls_all import list_all

        list_all(status, limit, as_json)
        return
    from tether.api.jobs import ls as list_rows
    from tether.cli.ls_all import rows_table

    store = open_store()
    rows = list_rows(store, on=host, statuses=status, limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows and status:
        click.echo(f"no {' or '.join(status)} jobs", err=True)
        return
    if not rows:
        click.echo("no jobs yet: start one with `tether run SCRIPT.py`", err=True)
        return
    render.console().print(rows_table(rows, host_first=False))


@click.command()
@on_option
@json_option
@click.argument("job", required=False)
def show(host: str | None, as_json: bool, job: str | None) -> None:
    """Everything about one job."""
    from tether.api.jobs import show as show_job

    if is_remote(host):
        assert host is not None
        call_on_host(host, ["show", *(["--json"] if as_json else []), *([job] if job else [])])
        return
    data = show_job(open_store(), job)
    if as_json:
        print_json(data)
        return
    _print_job(data)


def _print_job(data: dict[str, Any]) -> None:
    """``show``'s text: the record's fields, peaks, extra, metrics, messages, last output."""
    from tether.jobs.resources import Usage

    con = render.console()
    status = str(data.get("status"))
    style = render.STATUS_STYLE.get(status, "")
    con.print(f"[bold]#{data.get('number')}[/] {escape(str(data.get('name')))}  "
              f"[{style}]{status}[/]")  # fmt: skip
    for key in SHOWN_FIELDS:
        value = data.get(key)
        if value is not None:
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            con.print(f"  {key:<10} {shown}", markup=False)
    runtime = data.get("runtime")
    seconds = runtime if isinstance(runtime, (int, float)) else None
    con.print(f"  {'runtime':<10} {render.duration(seconds)}")
    prog = data.get("progress")
    if isinstance(prog, dict) and prog.get("percent") is not None:
        eta = prog.get("eta")
        text = f"{prog['percent']}%" + (f" eta {eta}" if eta and eta != "?" else "")
        con.print(f"  {'progress':<10} {text} ({prog.get('done')}/{prog.get('total')})")
    usage = Usage.from_json(data.get("usage"))
    if usage is not None and usage.peaks_line():
        con.print(f"  {'peak use':<10} {usage.peaks_line()}", markup=False)
    extra = data.get("extra")
    for key, value in (extra if isinstance(extra, dict) else {}).items():
        con.print(f"  {key:<10} {value}", markup=False)
    summary = data.get("metrics")
    if isinstance(summary, dict) and summary:
        con.print("[bold]metrics[/] (last / min / max)")
        for name, m in summary.items():
            con.print(f"  {name:<16} {render.number(m['last'])} / {render.number(m['min'])}"
                      f" / {render.number(m['max'])}", markup=False)  # fmt: skip
    events = data.get("events")
    messages = [e for e in events or [] if e.get("kind") in ("message", "condition")]
    if messages:
        con.print("[bold]messages[/]")
        for event in messages[-10:]:
            text = event.get("text") or f"condition {event.get('condition')} turned true"
            con.print(f"  {text}", markup=False)
    tail = data.get("output_tail")
    if tail:
        con.print("[bold]last lines of output[/]")
        for line in tail:
            con.print("  " + str(line), markup=False)


SHOWN_FIELDS = ("uuid", "host", "command", "cwd", "script", "pid", "exit_code", "reason",
                "parent", "created", "started", "ended", "log_path")  # fmt: skip
"""The record's fields ``show`` prints, in this order (when set)."""


@click.command()
@click.option("--all", "all_jobs", is_flag=True, help="Wait for every queued or running job.")
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 124).")
@on_option
@click.argument("job", required=False)
def wait(all_jobs: bool, timeout: float | None, host: str | None, job: str | None) -> None:
    """Wait for JOB (or --all) to finish; exit with its exit code."""
    from tether.api.watch import exit_code_of, wait_for
    from tether.errors import TetherError
    from tether.jobs import retry

    if is_remote(host):
        assert host is not None
        args = ["wait", *(["--all"] if all_jobs else [])]
        args += [*(["--timeout", str(timeout)] if timeout is not None else [])]
        call_on_host(host, [*args, *([job] if job else [])], timeout=None)
        return

    store = open_store()
    codes: list[int] = []
    if all_jobs:
        if job:
            raise UsageError("give JOB or --all, not both")
        numbers, on_hosts = split_by_host(store.jobs(statuses=["queued", RUNNING]))
        numbers += [j.number for j in retry.coming(store)]  # failed; the next attempt is due
        args = ["wait", *(["--timeout", str(timeout)] if timeout is not None else [])]
        codes = [run_on_host(f, [*args, f.uuid], timeout=None) for f in on_hosts]
        if 124 in codes:  # a host's wait timed out
            sys.exit(124)
    else:
        record = resolve_job(store, job)
        forward = remote_job(record)
        if forward is not None:
            args = ["wait", *(["--timeout", str(timeout)] if timeout is not None else [])]
            sys.exit(run_on_host(forward, [*args, forward.uuid], timeout=None))
        numbers = [record.number]
    try:
        jobs = wait_for(store, numbers, timeout)
    except TetherError as exc:
        click.echo(f"tether: {exc}", err=True)
        sys.exit(124)
    if all_jobs:
        sys.exit(0 if all(j.status == "succeeded" for j in jobs) and not any(codes) else 1)
    sys.exit(exit_code_of(jobs[0]))


@click.command()
@click.option(
    "--grace",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL.",
)
@on_option
@click.argument("jobs", nargs=-1)
def cancel(grace: float, host: str | None, jobs: tuple[str, ...]) -> None:
    """Cancel JOBs (default: the last job): the whole process tree is stopped."""
    from tether.api.jobs import cancel_jobs

    if is_remote(host):
        assert host is not None
        call_on_host(host, ["cancel", "--grace", str(grace), *jobs], timeout=grace + 120)
        return
    for row in cancel_jobs(open_store(), list(jobs) or [None], grace=grace):
        if row["already"]:
            click.echo(f"job #{row['number']} already {row['status']}", err=True)
        else:
            click.echo(f"job #{row['number']} {row['status']}")


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@click.option(
    "--status",
    "-s",
    type=click.Choice(sorted(FINISHED)),
    multiple=True,
    help="Only jobs with these statuses (default: every finished job).",
)
def clean(yes: bool, status: tuple[str, ...]) -> None:
    """Remove finished jobs and their files (logs, metrics)."""
    from tether.backends import refresh_many

    store = open_store()
    wanted = status or tuple(FINISHED)
    jobs = refresh_many(store, store.jobs(statuses=wanted))
    jobs = [j for j in jobs if j.finished]
    if not jobs:
        click.echo("nothing to clean")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"{len(jobs)} jobs would be removed; add --yes to confirm")
        click.confirm(f"Remove {len(jobs)} finished jobs and their files?", abort=True)
    home = store.home.resolve()
    datasets = _dataset_folders(store, jobs, home)
    for job in jobs:
        folder = Path(job.job_dir).resolve()
        if folder.is_relative_to(home / "jobs"):
            shutil.rmtree(folder, ignore_errors=True)
    for folder in datasets:
        shutil.rmtree(folder, ignore_errors=True)
    store.delete(j.number for j in jobs)
    click.echo(f"removed {len(jobs)} jobs")


def _dataset_folders(store: JobStore, removed: list[Job], home: Path) -> list[Path]:
    """The local TETHER_HOME/datasets/NAME folders of the removed function jobs that no job
    left in the store still uses (never anything outside TETHER_HOME/datasets)."""
    root = home / "datasets"

    def folder_of(job: Job) -> Path | None:
        path = job.extra.get("dataset_dir") if job.extra.get("kind") == "functions" else None
        if not isinstance(path, str) or not path:
            return None
        folder = Path(path).resolve()
        return folder if folder.parent == root else None

    gone = {j.number for j in removed}
    found = {folder_of(j) for j in removed}
    for job in store.iter_where("extra LIKE ?", ('%"dataset_dir"%',)):
        if job.number not in gone:
            found.discard(folder_of(job))  # still used by a job that stays
    return sorted(f for f in found if f is not None and f.is_dir())
