"""Job commands: ``ls``, ``show``, ``wait``, ``cancel``, ``clean``."""

from __future__ import annotations

import sys
from typing import Any

import click

from tether.api.types import FINISHED, LATEST, STATUSES
from tether.cli import render
from tether.cli.context import json_option, on_option, open_store, print_json, runs_elsewhere
from tether.errors import UsageError, WaitTimeout


def is_remote(host: str | None) -> bool:
    return runs_elsewhere(host)


@click.command()
@click.option("--status", "-s", type=click.Choice(STATUSES), multiple=True, help="Only these.")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    help="The last N jobs; 0: every job (default: every queued and running job and the "
    f"{LATEST} latest finished; with --json, every job).",
)
@click.option("--all", "all_hosts", is_flag=True, help="Jobs of this machine and every host.")
@on_option
@json_option
def ls(
    status: tuple[str, ...], limit: int | None, all_hosts: bool, host: str | None, as_json: bool
) -> None:
    """List jobs: number, name, status, runtime, progress, latest metrics. By default, every
    queued and running job and the latest finished ones; `-n N` the last N, `-n 0` all."""
    if all_hosts:
        if host is not None:
            raise UsageError("give --all or --on HOST, not both")
        from tether.cli.ls_all import list_all

        list_all(status, limit or None, as_json)
        return
    store = open_store()
    if as_json or (host or "local") != "local":  # a host's list, or a cluster's (login node)
        from tether.api.jobs import ls as list_rows

        rows = list_rows(store, on=host, statuses=status, limit=limit or None)
        hidden = 0
    else:
        from tether.api.jobs import ls_window

        window = ls_window(store, statuses=status, limit=limit)
        rows, hidden = window.rows, window.hidden
    if as_json:
        print_json(rows)
        return
    if not rows and status:
        click.echo(f"no {' or '.join(status)} jobs", err=True)
        return
    if not rows:
        click.echo("no jobs yet: start one with `tether run SCRIPT.py`", err=True)
        return
    from tether.cli.ls_all import rows_table

    render.console().print(rows_table(rows, host_first=False))
    if hidden:
        older = "older job" + ("s" if hidden != 1 else "")
        click.echo(f"… {hidden:,} {older} not shown: `tether ls -n N` for the last N, `-n 0` all")


@click.command()
@on_option
@json_option
@click.argument("job", required=False)
def show(host: str | None, as_json: bool, job: str | None) -> None:
    """Everything about one job."""
    from tether.api.commands import show as show_job

    data = show_job(job, on=host)
    if as_json:
        print_json(data)
        return
    if is_remote(host):
        data = {**data, "host": host}  # the host calls itself "local"
    _print_job(data)


def _print_job(data: dict[str, Any]) -> None:
    """``show``'s text: the record's fields, peaks, extra, metrics, messages, last output."""
    from rich.markup import escape  # rich: only for what people read (not --json)

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
    if data.get("executed_notebook"):
        con.print(f"  {'executed':<10} {data['executed_notebook']}", markup=False, soft_wrap=True)
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
        if key != "git":  # shown below, with its diff
            con.print(f"  {key:<10} {value}", markup=False)
    _show_git(con, data.get("git"), data.get("number"))
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


DIFF_LINES = 40
"""Lines of a job's uncommitted changes ``show`` prints (``--json`` has them all)."""


def _show_git(con: Any, git: Any, number: Any) -> None:
    """``git  a1b2c3d (main), 2 changed, 1 untracked`` and the start of the diff."""
    if not isinstance(git, dict):
        return
    commit = str(git.get("commit") or "no commit yet")[:12]
    where = f" ({git['branch']})" if git.get("branch") else " (detached)"
    if git.get("ref"):
        where = f" (--git {git['ref']})"
    changes = [f"{len(git[k])} {k}" for k in ("changed", "untracked") if git.get(k)]
    state = ", ".join(changes) if changes else "clean"
    con.print(f"  {'git':<10} {commit}{where}, {state}", markup=False)
    diff = git.get("diff")
    if isinstance(diff, str) and diff:
        lines = diff.rstrip("\n").splitlines()
        con.print("[bold]uncommitted changes[/] (git diff HEAD)")
        for line in lines[:DIFF_LINES]:
            con.print("  " + line, markup=False, highlight=False)
        if len(lines) > DIFF_LINES:
            more = len(lines) - DIFF_LINES
            con.print(f"  … {more} more lines: `tether show --json {number}` has them all")


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
    from tether.api.watch import wait_for_exit

    if is_remote(host):
        from tether.api.commands import wait as wait_there
        from tether.jobs.status import exit_code_of

        if all_jobs and job:
            raise UsageError("give JOB or --all, not both")
        try:
            rows = wait_there(*([job] if job else []), all_jobs=all_jobs, timeout=timeout, on=host)
        except WaitTimeout as exc:
            click.echo(f"tether: {exc}", err=True)
            sys.exit(exc.exit_code)
        codes = [exit_code_of(row["status"], row.get("exit_code")) for row in rows]
        sys.exit((1 if any(codes) else 0) if all_jobs else codes[0])
    outcome = wait_for_exit(open_store(), job, all_jobs=all_jobs, timeout=timeout)
    if outcome.message:
        click.echo(f"tether: {outcome.message}", err=True)
    sys.exit(outcome.code)


@click.command()
@click.option(
    "--grace",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL.",
)
@on_option
@json_option
@click.argument("jobs", nargs=-1)
def cancel(grace: float, host: str | None, as_json: bool, jobs: tuple[str, ...]) -> None:
    """Cancel JOBs (default: the last job): the whole process tree is stopped."""
    from tether.api.commands import cancel as cancel_jobs

    rows = cancel_jobs(*jobs, grace=grace, on=host)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        if row["already"]:
            click.echo(f"job #{row['number']} already {row['status']}", err=True)
        else:
            click.echo(f"job #{row['number']} {row['status']}")


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@click.option(
    "--status",
    "-s",
    type=click.Choice(sorted(s.value for s in FINISHED)),
    multiple=True,
    help="Only jobs with these statuses (default: every finished job).",
)
@click.option("--all", "all_hosts", is_flag=True, help="Here and on every SSH host.")
@on_option
@json_option
def clean(
    yes: bool, status: tuple[str, ...], all_hosts: bool, host: str | None, as_json: bool
) -> None:
    """Remove finished jobs and their files (logs, metrics); with --on, the host's (and the
    records here of them); with --all, those here and on every SSH host."""
    from tether.api.commands import clean as clean_jobs

    def confirm(count: int | None) -> None:
        if yes:
            return
        where = "here and on every host" if all_hosts else f"on {host}"
        what = f"{count} finished jobs" if count is not None else f"the finished jobs {where}"
        if not sys.stdin.isatty():
            raise UsageError(f"{what} would be removed; add --yes to confirm")
        click.confirm(f"Remove {what} and their files?", abort=True)

    removed = clean_jobs(status=status, on=host, all_hosts=all_hosts, confirm=confirm)
    if as_json:
        print_json(removed)
        return
    for name, answer in removed.get("hosts", {}).items():
        if "error" in answer:
            click.echo(
                f"tether: {name} not cleaned ({answer['error']}); its records stay", err=True
            )
        else:
            click.echo(f"removed {len(answer['removed'])} jobs on {name}")
    if not removed["removed"]:
        click.echo("nothing to clean" + (" here" if all_hosts else ""))
        return
    where = " here" if all_hosts else ""
    where = f" on {host}" if host is not None and host != "local" else where
    click.echo(f"removed {len(removed['removed'])} jobs{where}")
